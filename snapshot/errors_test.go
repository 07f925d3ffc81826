package snapshot

import (
	"errors"
	"io"
	"testing"
)

func TestCorruptError(t *testing.T) {
	tests := []struct {
		name string
		err  *CorruptError
		want string
	}{
		{"offset", &CorruptError{Path: "j/chk-1/_metadata", Offset: 16, Reason: "bad crc"}, "corrupt j/chk-1/_metadata at offset 16: bad crc"},
		{"unknown offset", &CorruptError{Path: "a", Offset: -1, Reason: "short"}, "corrupt a: short"},
		{"cause", &CorruptError{Path: "a", Offset: 0, Reason: "bad", Err: io.ErrUnexpectedEOF}, "corrupt a at offset 0: bad: unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			var err error = tt.err
			if !errors.Is(err, ErrCorrupt) {
				t.Error("not ErrCorrupt")
			}
			if errors.Is(err, ErrNotExist) {
				t.Error("is ErrNotExist")
			}
			if errors.Unwrap(err) != tt.err.Err {
				t.Error("Unwrap does not return Err")
			}
			var ce *CorruptError
			if !errors.As(wrap(err), &ce) || ce != tt.err {
				t.Error("errors.As through a wrapper failed")
			}
		})
	}
}

func wrap(err error) error { return errors.Join(errors.New("context"), err) }
