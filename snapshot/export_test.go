package snapshot

// Internals of the formats, for the tests of package snapshot_test.

const (
	KeyGroupHeaderSize  = keyGroupHeaderSize
	OperatorHeaderSize  = operatorHeaderSize
	MetadataHeaderSize  = metadataHeaderSize
	MetadataTrailerSize = metadataTrailerSize
	MetadataMagic       = metadataMagic
)

var (
	Castagnoli           = castagnoli
	MetadataToProto      = metadataToProto
	ParseKeyGroupBlock   = parseKeyGroupBlock
	ParseOperatorPayload = parseOperatorPayload
)

// Codec is the block codec of the stream formats.
type Codec = codec

// NewCodec returns a block codec that accepts blocks of up to limit bytes.
func NewCodec(limit int) *Codec { return &codec{limit: limit} }

func (c *codec) Compress(dst, src []byte, comp Compression) ([]byte, error) {
	return c.compress(dst, src, comp)
}

func (c *codec) Decompress(dst, src []byte, comp Compression) ([]byte, error) {
	return c.decompress(dst, src, comp)
}

func (c *codec) Limit() int { return c.limit }

// BlockError is the error of bad framing inside a block.
type BlockError = blockError

func (e *blockError) At() int { return e.at }
