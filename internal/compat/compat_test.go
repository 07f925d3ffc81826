package compat

import (
	"errors"
	"testing"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/serializer"
)

func TestReaderOfIncompatibleData(t *testing.T) {
	read, _, err := Reader[int64](serializer.Int64{}, serializer.String{}.Snapshot())
	var ie *backend.IncompatibleStateError
	if read != nil || !errors.As(err, &ie) || !errors.Is(err, backend.ErrIncompatibleSerializer) {
		t.Fatalf("reader of incompatible data: %v", err)
	}
}
