package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits on the work ReadFile does for a file, whatever its aliases.
const (
	maxDepth = 32      // nested mappings, alias hops included
	maxNodes = 1 << 16 // nodes visited, aliases expanded
)

// ReadFile reads a YAML configuration file into a flat map of key to
// value, as Flink's config.yaml: keys may be written flat
// ("state.backend.type: lsm"), nested ("state: {backend: {type: lsm}}") or
// mixed, and nested keys are joined with dots. Every value must be a
// scalar and becomes its text as written ("1s", "true", "128"); a null
// value becomes "". Values are not checked: Parse does that.
//
// An empty file gives an empty map. A missing file gives an error wrapping
// fs.ErrNotExist that names path. Problems in the file are reported at
// once, as an errors.Join of *FileError naming path and, when known, the
// line: a YAML syntax error, more than one document or a top level that is
// not a mapping (ErrSyntax); a key set twice, however spelled
// (ErrDuplicateKey); a list or other non-scalar value (ErrInvalidValue).
func ReadFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parseYAML(path, data)
}

// entry is one flattened key: its value and the line that set it.
type entry struct {
	value string
	line  int
}

type flattener struct {
	path    string
	entries map[string]entry
	errs    []error
	nodes   int
}

func parseYAML(path string, data []byte) (map[string]string, error) {
	f := &flattener{path: path, entries: make(map[string]entry)}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return map[string]string{}, nil
	case err != nil:
		return nil, f.syntaxError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, f.syntaxError(err)
	default:
		return nil, &FileError{Path: path, Line: next.Line, Reason: "more than one YAML document; want one mapping of keys to values", Err: ErrSyntax}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	switch {
	case root.Kind == yaml.MappingNode:
		f.mapping("", root, 0)
	case root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null":
		// A document of comments only, or "~".
	default:
		f.errs = append(f.errs, &FileError{Path: path, Line: root.Line, Reason: "want a mapping of keys to values at the top level", Err: ErrSyntax})
	}
	if len(f.errs) > 0 {
		return nil, errors.Join(f.errs...)
	}
	out := make(map[string]string, len(f.entries))
	for k, e := range f.entries {
		out[k] = e.value
	}
	return out, nil
}

// yamlErrRE matches the messages of go.yaml.in/yaml/v3 syntax errors.
var yamlErrRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (f *flattener) syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlErrRE.FindStringSubmatch(err.Error()); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			line, msg = n, m[2]
		}
	}
	return &FileError{Path: f.path, Line: line, Reason: "invalid YAML: " + msg, Err: ErrSyntax}
}

// visit counts a node against maxNodes and maxDepth and reports whether
// the flattening may go on.
func (f *flattener) visit(n *yaml.Node, depth int) bool {
	f.nodes++
	switch {
	case f.nodes == maxNodes+1:
		f.errs = append(f.errs, &FileError{Path: f.path, Line: n.Line, Reason: fmt.Sprintf("more than %d nodes, aliases expanded", maxNodes), Err: ErrSyntax})
		return false
	case f.nodes > maxNodes:
		return false
	case depth > maxDepth:
		f.errs = append(f.errs, &FileError{Path: f.path, Line: n.Line, Reason: fmt.Sprintf("nested more than %d levels deep, aliases expanded", maxDepth), Err: ErrSyntax})
		return false
	}
	return true
}

// mapping flattens the pairs of m under prefix.
func (f *flattener) mapping(prefix string, m *yaml.Node, depth int) {
	if !f.visit(m, depth) {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		line := k.Line
		for hops := 0; k.Kind == yaml.AliasNode && k.Alias != nil && hops <= maxDepth; hops++ {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			f.errs = append(f.errs, &FileError{Path: f.path, Line: line, Key: prefix, Reason: "a key must be a scalar", Err: ErrSyntax})
			continue
		}
		if k.ShortTag() == "!!merge" {
			f.errs = append(f.errs, &FileError{Path: f.path, Line: line, Key: prefix, Reason: "merge keys (<<) are not supported", Err: ErrSyntax})
			continue
		}
		key := k.Value
		if prefix != "" {
			key = prefix + "." + key
		}
		f.value(key, v, line, depth+1)
	}
}

// value records the value of key, set at line.
func (f *flattener) value(key string, v *yaml.Node, line, depth int) {
	if !f.visit(v, depth) {
		return
	}
	switch v.Kind {
	case yaml.AliasNode:
		if v.Alias != nil {
			f.value(key, v.Alias, line, depth+1)
		}
	case yaml.MappingNode:
		f.mapping(key, v, depth)
	case yaml.ScalarNode:
		value := v.Value
		if v.ShortTag() == "!!null" {
			value = ""
		}
		if prev, dup := f.entries[key]; dup {
			f.errs = append(f.errs, &FileError{Path: f.path, Line: line, Key: key, Reason: fmt.Sprintf("duplicate key; first set on line %d", prev.line), Err: ErrDuplicateKey})
			return
		}
		f.entries[key] = entry{value, line}
	case yaml.SequenceNode:
		f.errs = append(f.errs, &FileError{Path: f.path, Line: line, Key: key, Reason: "value is a list; want a scalar", Err: ErrInvalidValue})
	default:
		f.errs = append(f.errs, &FileError{Path: f.path, Line: line, Key: key, Reason: "want a scalar value", Err: ErrInvalidValue})
	}
}
