package snapshot

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// MaxBlockSize is the largest uncompressed block (one key group of a
// key-group stream, or the payload of an operator-state stream) that this
// package writes or reads. Writers refuse to produce a bigger block, and
// readers treat a block that claims or produces more as corrupt, so that a
// damaged file cannot make a reader allocate without bound.
const MaxBlockSize = 1 << 30

// codec compresses and decompresses whole blocks. It is safe for concurrent
// use: the zstd encoder and decoder are shared (EncodeAll and DecodeAll may
// run concurrently).
type codec struct {
	limit int // largest uncompressed block accepted

	encOnce sync.Once
	enc     *zstd.Encoder
	encErr  error

	decOnce sync.Once
	dec     *zstd.Decoder
	decErr  error
}

// blockCodec is the codec used by the stream readers and writers.
var blockCodec = &codec{limit: MaxBlockSize}

func (c *codec) zstdEncoder() (*zstd.Encoder, error) {
	c.encOnce.Do(func() {
		c.enc, c.encErr = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithZeroFrames(true))
	})
	return c.enc, c.encErr
}

func (c *codec) zstdDecoder() (*zstd.Decoder, error) {
	c.decOnce.Do(func() {
		c.dec, c.decErr = zstd.NewReader(nil,
			zstd.WithDecoderMaxMemory(uint64(c.limit)),
			zstd.WithDecoderConcurrency(0))
	})
	return c.dec, c.decErr
}

// compress appends the compressed form of src to dst[:0] and returns it.
// With CompressionNone it returns src itself. dst may be reused by the
// caller across calls.
func (c *codec) compress(dst, src []byte, comp Compression) ([]byte, error) {
	if len(src) > c.limit {
		return nil, fmt.Errorf("block of %d bytes exceeds the %d-byte limit", len(src), c.limit)
	}
	switch comp {
	case CompressionNone:
		return src, nil
	case CompressionZstd:
		enc, err := c.zstdEncoder()
		if err != nil {
			return nil, fmt.Errorf("zstd encoder: %w", err)
		}
		return enc.EncodeAll(src, dst[:0]), nil
	case CompressionS2:
		if n := s2.MaxEncodedLen(len(src)); cap(dst) < n {
			dst = make([]byte, n)
		}
		return s2.Encode(dst[:cap(dst)], src), nil
	}
	return nil, checkCompression(comp)
}

// errBlockTooLarge reports a block that decompresses to more than the limit.
var errBlockTooLarge = errors.New("block decompresses beyond the size limit")

// decompress returns the uncompressed form of src, using dst's storage if
// it is large enough. With CompressionNone it returns src itself. Errors
// describe undecodable input; the caller turns them into *CorruptError.
func (c *codec) decompress(dst, src []byte, comp Compression) ([]byte, error) {
	switch comp {
	case CompressionNone:
		if len(src) > c.limit {
			return nil, errBlockTooLarge
		}
		return src, nil
	case CompressionZstd:
		dec, err := c.zstdDecoder()
		if err != nil {
			return nil, fmt.Errorf("zstd decoder: %w", err)
		}
		out, err := dec.DecodeAll(src, dst[:0])
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
			return nil, errBlockTooLarge
		}
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return out, nil
	case CompressionS2:
		n, err := s2.DecodedLen(src)
		if err != nil {
			return nil, fmt.Errorf("s2: %w", err)
		}
		if n > c.limit {
			return nil, errBlockTooLarge
		}
		out, err := s2.Decode(dst[:cap(dst)], src)
		if err != nil {
			return nil, fmt.Errorf("s2: %w", err)
		}
		return out, nil
	}
	return nil, checkCompression(comp)
}
