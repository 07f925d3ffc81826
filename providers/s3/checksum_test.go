package s3_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/stated-io/stated/internal/s3server"
	"github.com/stated-io/stated/providers/s3"
	"github.com/stated-io/stated/snapshot"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32cBase64(b []byte) string {
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], crc32.Checksum(b, castagnoli))
	return base64.StdEncoding.EncodeToString(s[:])
}

// partCRCs returns the CRC32C of each part of data.
func partCRCs(data []byte, partSize int) []uint32 {
	var crcs []uint32
	for off := 0; off < len(data); off += partSize {
		crcs = append(crcs, crc32.Checksum(data[off:min(off+partSize, len(data))], castagnoli))
	}
	return crcs
}

// modesOf returns the checksum modes srv takes over plain http.
func modesOf(srv *s3server.Server) []s3.Checksum {
	if srv.Kind == s3server.MinIO {
		return []s3.Checksum{s3.ChecksumHeader, s3.ChecksumTrailer, s3.ChecksumNone}
	}
	return []s3.Checksum{s3.ChecksumHeader, s3.ChecksumNone}
}

// TestS3StorageChecksumModes: in every mode a server takes, single and
// multipart uploads store the CRC32C of what was written (the server's
// own checksum in header and trailer modes, composite for multipart; none
// in none mode) and the stated-crc32c metadata.
func TestS3StorageChecksumModes(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		client := rawClient(t, srv)
		for _, mode := range modesOf(srv) {
			t.Run(mode.String(), func(t *testing.T) {
				opts := s3Options(t, srv)
				opts.Checksum = mode
				s := newS3(t, srv, opts)
				small := randomBytes(1000)
				big := randomBytes(2*s3.MinPartSize + 5)
				for name, data := range map[string][]byte{"small": small, "big": big} {
					if err := putS3(t, s, name, data, snapshot.CreateOptions{}); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					info, err := client.StatObject(t.Context(), srv.Bucket, s.Prefix()+"/"+name, miniogo.StatObjectOptions{Checksum: true})
					if err != nil {
						t.Fatal(err)
					}
					full := crc32cBase64(data)
					if got := info.Metadata.Get("X-Amz-Meta-Stated-Crc32c"); got != full {
						t.Errorf("%s: stated-crc32c metadata %q; want %q", name, got, full)
					}
					want := full
					if name == "big" {
						want = s3.CompositeCRC32C(partCRCs(data, s3.MinPartSize))
					}
					if mode == s3.ChecksumNone {
						want = ""
					}
					if info.ChecksumCRC32C != want {
						t.Errorf("%s: the server stored CRC32C %q; want %q", name, info.ChecksumCRC32C, want)
					}
				}
			})
		}
	})
}

// TestS3StorageChecksumRefused: versitygw refuses the signed CRC32C
// trailer over plain http (BadDigest). Opening a storage in trailer mode
// on it fails in its probe, at once, saying to use header mode; with the
// probe off, Commit fails the same way, without starting the upload
// again, and leaves nothing.
func TestS3StorageChecksumRefused(t *testing.T) {
	srv := shared(t, s3server.VersityGW)
	opts := s3Options(t, srv)
	opts.Checksum = s3.ChecksumTrailer
	start := time.Now()
	_, err := s3.New(t.Context(), srv.Bucket, newPrefix(), opts)
	if err == nil || !strings.Contains(err.Error(), "BadDigest") && !strings.Contains(err.Error(), "did not match") || !strings.Contains(err.Error(), "s3.checksum=header") {
		t.Fatalf("New in trailer mode on versitygw: %v; want the refusal, saying to set s3.checksum=header", err)
	}
	t.Logf("refused after %v: %v", time.Since(start).Round(time.Millisecond), err)

	logs := &lockedBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts.ConditionalWrites = s3.ConditionalWritesUnchecked
	s := newS3(t, srv, opts)
	for name, data := range map[string][]byte{"small": []byte("small"), "big": randomBytes(s3.MinPartSize + 1)} {
		err := putS3(t, s, name, data, snapshot.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "s3.checksum=header") {
			t.Errorf("Commit of %s in trailer mode on versitygw: %v; want the refusal", name, err)
		}
		if _, err := s.Size(t.Context(), name); !errors.Is(err, snapshot.ErrNotExist) {
			t.Errorf("%s after the refused upload: %v; want ErrNotExist", name, err)
		}
	}
	if strings.Contains(logs.String(), "uploading again") {
		t.Errorf("a refused checksum was uploaded again:\n%s", logs)
	}
}

// flipSpoolByte returns an upload hook that flips a byte of the spool file
// of s at the offset of the first upload of name, as a bad local disk
// would between the write and the upload.
func flipSpoolByte(t *testing.T, s *s3.Storage, name string) func(string, int64) {
	var once sync.Once
	return func(n string, off int64) {
		if n != name {
			return
		}
		once.Do(func() {
			files, err := filepath.Glob(filepath.Join(s3.SpoolDir(s), "*.spool"))
			if err != nil || len(files) != 1 {
				t.Errorf("spool files %q, %v", files, err)
				return
			}
			f, err := os.OpenFile(files[0], os.O_RDWR, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			b := make([]byte, 1)
			f.ReadAt(b, off+10)
			b[0] ^= 0x40
			if _, err := f.WriteAt(b, off+10); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestS3StorageSpoolCorrupted: bytes that change between the write and
// the upload never become a committed file. In header mode the server
// refuses the CRC32C computed at the write (and the refusal is not
// retried); in trailer mode, where the client computes the checksum of a
// single PUT while it sends, Commit finds that the CRC32C the server
// reports is not the one written, deletes the object and fails with
// ErrCorrupt.
func TestS3StorageSpoolCorrupted(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		for _, mode := range modesOf(srv) {
			if mode == s3.ChecksumNone {
				continue // nothing to check with: documented
			}
			t.Run(mode.String(), func(t *testing.T) {
				opts := s3Options(t, srv)
				opts.Checksum = mode
				logs := &lockedBuffer{}
				opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
				s := newS3(t, srv, opts)
				for name, size := range map[string]int{"small": 1000, "big": 2*s3.MinPartSize + 5} {
					s3.SetUploadHook(s, flipSpoolByte(t, s, name))
					err := putS3(t, s, name, randomBytes(size), snapshot.CreateOptions{})
					s3.SetUploadHook(s, nil)
					if err == nil {
						t.Fatalf("%s: Commit of a spool file that changed succeeded", name)
					}
					if mode == s3.ChecksumTrailer && name == "small" && !errors.Is(err, snapshot.ErrCorrupt) {
						t.Errorf("%s: %v; want ErrCorrupt", name, err)
					}
					t.Logf("%s: %v", name, err)
					if _, err := s.Size(t.Context(), name); !errors.Is(err, snapshot.ErrNotExist) {
						t.Errorf("%s after the failed Commit: %v; want ErrNotExist", name, err)
					}
				}
				if strings.Contains(logs.String(), "uploading again") {
					t.Errorf("a refused checksum was uploaded again:\n%s", logs)
				}
			})
		}
	})
}

// TestS3StorageNoOverwriteRetried: a NoOverwrite commit that finds an
// object with its own bytes (by the stated-crc32c metadata, as after a
// retried PUT whose first answer was lost) succeeds in every mode, also
// where the server keeps no checksum; one with other bytes of the same
// size is ErrExist.
func TestS3StorageNoOverwriteRetried(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		for _, mode := range modesOf(srv) {
			t.Run(mode.String(), func(t *testing.T) {
				opts := s3Options(t, srv)
				opts.Checksum = mode
				s := newS3(t, srv, opts)
				data := []byte("metadata bytes")
				if err := putS3(t, s, "chk-1/_metadata", data, snapshot.CreateOptions{NoOverwrite: true}); err != nil {
					t.Fatal(err)
				}
				if err := putS3(t, s, "chk-1/_metadata", data, snapshot.CreateOptions{NoOverwrite: true}); err != nil {
					t.Errorf("NoOverwrite over its own bytes: %v", err)
				}
				other := bytes.ToUpper(data)
				if err := putS3(t, s, "chk-1/_metadata", other, snapshot.CreateOptions{NoOverwrite: true}); !errors.Is(err, snapshot.ErrExist) {
					t.Errorf("NoOverwrite over other bytes: %v; want ErrExist", err)
				}
			})
		}
	})
}

// TestS3StorageUploadCancelledMidway: cancelling the context of a
// multipart upload in the middle fails Commit with context.Canceled,
// aborts the upload and removes the spool file.
func TestS3StorageUploadCancelledMidway(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		opts := s3Options(t, srv)
		opts.Concurrency = 1
		s := newS3(t, srv, opts)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		s3.SetUploadHook(s, func(_ string, off int64) {
			if off >= s3.MinPartSize {
				cancel()
			}
		})
		defer s3.SetUploadHook(s, nil)
		w, err := s.Create(ctx, "big", snapshot.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(randomBytes(3 * s3.MinPartSize))
		if _, err := w.Commit(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Commit cancelled in the middle: %v", err)
		}
		uploads := 0
		for u := range rawClient(t, srv).ListIncompleteUploads(t.Context(), srv.Bucket, s.Prefix()+"/", true) {
			if u.Err == nil {
				uploads++
			}
		}
		if uploads != 0 {
			t.Errorf("%d multipart uploads left after the cancelled Commit", uploads)
		}
	})
}
