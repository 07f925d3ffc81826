package serializer

import "reflect"

// Cloner returns a function that copies values of V so that a copy can
// be modified without changing the original: the identity when values of
// V share no memory (numbers, strings, and arrays and structs of them),
// else an encoding and decoding through s. Object backends store the
// objects they are given, hand them out on reads and share them with
// their captures: code that modifies a value it read (an accumulator it
// folds into, say) must modify a copy. It is safe for concurrent use if s
// is.
func Cloner[V any](s Serializer[V]) func(V) (V, error) {
	if immutableValue(reflect.TypeFor[V]()) {
		return func(v V) (V, error) { return v, nil }
	}
	return func(v V) (V, error) {
		b, err := s.Append(nil, v)
		if err != nil {
			return v, err
		}
		return s.Decode(b)
	}
}

// immutableValue reports whether values of t cannot share mutable memory,
// so that a copy of the value is already a deep copy.
func immutableValue(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return true
	case reflect.Array:
		return immutableValue(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !immutableValue(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}
