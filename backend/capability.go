package backend

// Capability is how a keyed backend holds state, the one capability every
// KeyedBackend must provide: as objects (ObjectCapability, made by Objects)
// or serialized (ByteCapability, made by Bytes). Only those two functions
// make a Capability, and each takes the methods of its capability, so a
// backend that implements neither set of methods does not compile as a
// KeyedBackend. The typed states of package state read it once, when a
// state is created.
//
// The zero Capability holds neither; states refuse it with
// ErrUnsupportedBackend.
type Capability[K comparable] struct {
	objects ObjectCapability[K]
	bytes   ByteCapability
}

// Objects is the Capability of a backend that keeps state as objects.
func Objects[K comparable](c ObjectCapability[K]) Capability[K] {
	return Capability[K]{objects: c}
}

// Bytes is the Capability of a backend that keeps state serialized.
func Bytes[K comparable](c ByteCapability) Capability[K] {
	return Capability[K]{bytes: c}
}

// Objects returns the object capability, ok=false if the backend keeps
// bytes.
func (c Capability[K]) Objects() (o ObjectCapability[K], ok bool) {
	return c.objects, c.objects != nil
}

// Bytes returns the byte capability, ok=false if the backend keeps
// objects.
func (c Capability[K]) Bytes() (b ByteCapability, ok bool) {
	return c.bytes, c.bytes != nil
}
