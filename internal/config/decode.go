package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxErrors bounds how many problems one load collects: past it the rest are
// noise, and a hostile file could otherwise make the list huge.
const maxErrors = 100

// decoder walks a yaml.Node tree into the schema structs by reflection, so
// that every problem is reported with its line and key path and decoding goes
// on after one.
type decoder struct {
	file   string
	lookup func(string) (string, bool)
	// lines is the line of every key path seen (Source.Lines).
	lines map[string]int
	// raw holds the text as written for values that ${} expansion changed,
	// so that later messages quote the file and never an expanded secret.
	raw map[string]string
	// bad is every key path whose value was refused while decoding; the
	// validator stays quiet about those (and their children) instead of
	// reporting the same mistake twice.
	bad  map[string]bool
	errs Errors
	// full is set once maxErrors problems were collected; the rest are
	// dropped.
	full bool
}

func newDecoder(file string, lookup func(string) (string, bool)) *decoder {
	return &decoder{
		file:   file,
		lookup: lookup,
		lines:  make(map[string]int),
		raw:    make(map[string]string),
		bad:    make(map[string]bool),
	}
}

func (d *decoder) add(e *Error) {
	if len(d.errs) >= maxErrors {
		d.full = true
		return
	}
	d.errs = append(d.errs, e)
}

// fail records a problem with the value at path and marks the path bad.
func (d *decoder) fail(line int, path, format string, args ...any) {
	d.bad[path] = true
	d.add(&Error{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// refuseAliases reports every alias in the tree. Aliases are refused
// outright: they are how "billion laughs" files expand a few lines into
// gigabytes, and a config file gains nothing from them. The walk is
// iterative so that a deeply nested file cannot exhaust the stack.
func (d *decoder) refuseAliases(root *yaml.Node) {
	stack := []*yaml.Node{root}
	reported := 0 // one message per line is enough
	for len(stack) > 0 && !d.full {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.Kind == yaml.AliasNode {
			if n.Line != reported {
				d.add(&Error{File: d.file, Line: n.Line, Msg: "aliases are not allowed"})
				reported = n.Line
			}
			continue
		}
		for i := len(n.Content) - 1; i >= 0; i-- {
			stack = append(stack, n.Content[i])
		}
	}
}

// value decodes n into v. line is where path was written: the key's line for
// a mapping entry, the item's line for a list item.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string, line int) {
	if d.full || n.Kind == yaml.AliasNode {
		return // aliases were reported by refuseAliases
	}
	if !d.tagAllowed(n, path, line) {
		return
	}
	t := v.Type()
	switch {
	case t == reflect.TypeFor[Duration]():
		d.duration(n, v, path, line)
		return
	case t == reflect.TypeFor[Size]():
		d.size(n, v, path, line)
		return
	case t == reflect.TypeFor[Auth]():
		d.auth(n, v, path, line)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.value(n, v.Elem(), path, line)
	case reflect.Struct:
		d.structure(n, v, path, line)
	case reflect.Map:
		d.mapping(n, v, path, line)
	case reflect.Slice:
		d.list(n, v, path, line)
	case reflect.String:
		if s, ok := d.str(n, path, line); ok {
			v.SetString(s)
		}
	case reflect.Int:
		d.integer(n, v, path, line)
	case reflect.Bool:
		d.boolean(n, v, path, line)
	default:
		// The schema uses only the kinds above; a new field of another kind
		// is a programming error that TestSchemaKinds catches.
		d.fail(line, path, "internal error: unsupported field kind %s", t.Kind())
	}
}

// tagAllowed refuses explicit YAML tags other than the core ones: "!!binary"
// and application tags would give values a meaning this loader ignores.
func (d *decoder) tagAllowed(n *yaml.Node, path string, line int) bool {
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq", "!!timestamp":
		return true
	}
	d.fail(line, path, "YAML tag %q is not allowed", n.Tag)
	return false
}

// isNull reports whether n is an empty value ("key:" or "key: ~").
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what n is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "nothing"
		}
		return "a string"
	}
	return "something else"
}

// entries iterates over the key/value pairs of a mapping node, refusing
// non-scalar and duplicate keys and recording each key's line.
func (d *decoder) entries(n *yaml.Node, path string, line int, each func(key string, k, val *yaml.Node, kpath string)) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(line, path, "expected a mapping, got %s", describe(n))
		return
	}
	first := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content) && !d.full; i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			if k.Kind != yaml.AliasNode {
				d.add(&Error{File: d.file, Line: k.Line, Path: path, Msg: "keys must be plain strings"})
			}
			continue
		}
		kpath := joinKey(path, k.Value)
		if l, dup := first[k.Value]; dup {
			d.add(&Error{File: d.file, Line: k.Line, Path: kpath, Msg: fmt.Sprintf("duplicate key (first set at line %d)", l)})
			continue
		}
		first[k.Value] = k.Line
		d.lines[kpath] = k.Line
		each(k.Value, k, val, kpath)
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string, line int) {
	fields := yamlFields(v.Type())
	d.entries(n, path, line, func(key string, k, val *yaml.Node, kpath string) {
		idx, ok := fields[key]
		if !ok {
			d.add(&Error{File: d.file, Line: k.Line, Path: kpath, Msg: unknownKey(key, fields)})
			return
		}
		d.value(val, v.Field(idx), kpath, k.Line)
	})
}

// yamlFields maps a struct's yaml keys to field indexes; `yaml:"-"` fields
// are not keys.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

// unknownKey says that key is not allowed here and what is.
func unknownKey(key string, fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	if s := suggest(key, names); s != "" {
		return fmt.Sprintf("unknown key (did you mean %q?)", s)
	}
	return "unknown key (allowed here: " + strings.Join(names, ", ") + ")"
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string, line int) {
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	elem := v.Type().Elem()
	d.entries(n, path, line, func(key string, _, val *yaml.Node, kpath string) {
		e := reflect.New(elem).Elem()
		d.value(val, e, kpath, d.lines[kpath])
		v.SetMapIndex(reflect.ValueOf(key), e)
	})
}

func (d *decoder) list(n *yaml.Node, v reflect.Value, path string, line int) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(line, path, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		if d.full {
			break
		}
		ipath := fmt.Sprintf("%s[%d]", path, i)
		d.lines[ipath] = item.Line
		d.value(item, s.Index(i), ipath, item.Line)
	}
	v.Set(s)
}

// scalar returns n's text as written, or reports that a scalar was expected.
func (d *decoder) scalar(n *yaml.Node, path string, line int, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(line, path, "expected %s, got %s", want, describe(n))
		return "", false
	}
	return n.Value, true
}

// str decodes a string value, expanding ${NAME} references. Numbers are
// accepted as written ("min_version: 1.3"); booleans are not, because
// "host: true" is more likely a mistake than a name.
func (d *decoder) str(n *yaml.Node, path string, line int) (string, bool) {
	s, ok := d.scalar(n, path, line, "a string")
	if !ok {
		return "", false
	}
	switch n.ShortTag() {
	case "!!null":
		return "", true
	case "!!bool":
		d.fail(line, path, "expected a string, got a boolean (quote it if you mean the text %q)", s)
		return "", false
	}
	return d.expand(s, path, line)
}

// expand applies ${NAME} expansion to the value at path and remembers the
// text as written when it changed.
func (d *decoder) expand(s, path string, line int) (string, bool) {
	out, err := expand(s, d.lookup)
	if err != nil {
		d.fail(line, path, "%s", err.Error())
		return "", false
	}
	if out != s {
		d.raw[path] = s
	}
	return out, true
}

func (d *decoder) integer(n *yaml.Node, v reflect.Value, path string, line int) {
	s, ok := d.scalar(n, path, line, "a whole number")
	if !ok {
		return
	}
	tag := n.ShortTag()
	if tag != "!!int" && tag != "!!float" {
		msg := "expected a whole number, got " + describe(n)
		if strings.Contains(s, "${") {
			msg += " (${...} is expanded only in string values)"
		}
		d.fail(line, path, "%s", msg)
		return
	}
	// Only plain decimal: YAML 1.1 tools read "0100" as octal 64, and
	// "1_000" or "0x10" are read differently by different tools.
	digits := strings.TrimPrefix(s, "-")
	if len(digits) > 1 && digits[0] == '0' {
		d.fail(line, path, "number %q has a leading zero, which some YAML tools read as octal; remove it", s)
		return
	}
	i, err := strconv.ParseInt(s, 10, strconv.IntSize)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			d.fail(line, path, "number %s is out of range", s)
		} else {
			d.fail(line, path, "expected a whole decimal number, got %q", s)
		}
		return
	}
	v.SetInt(i)
}

func (d *decoder) boolean(n *yaml.Node, v reflect.Value, path string, line int) {
	s, ok := d.scalar(n, path, line, "true or false")
	if !ok {
		return
	}
	// YAML 1.1 spellings (yes, on, True) are refused: each tool reads them
	// differently, and a security switch must mean one thing.
	if n.ShortTag() != "!!bool" || (s != "true" && s != "false") {
		d.fail(line, path, "expected true or false, got %q", s)
		return
	}
	v.SetBool(s == "true")
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string, line int) {
	s, ok := d.scalar(n, path, line, "a duration")
	if !ok {
		return
	}
	if n.ShortTag() == "!!null" {
		d.fail(line, path, `expected a duration, got nothing (write one, as in "30s")`)
		return
	}
	text, ok := d.expand(s, path, line)
	if !ok {
		return
	}
	dur, err := parseDuration(text)
	if err != nil {
		if _, expanded := d.raw[path]; expanded {
			d.fail(line, path, "%q does not expand to a valid duration (write a number with a unit, as in \"30s\")", s)
		} else {
			d.fail(line, path, "%s", err.Error())
		}
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) size(n *yaml.Node, v reflect.Value, path string, line int) {
	s, ok := d.scalar(n, path, line, "a size")
	if !ok {
		return
	}
	if n.ShortTag() == "!!null" {
		d.fail(line, path, `expected a size, got nothing (write one, as in "1MiB")`)
		return
	}
	text, ok := d.expand(s, path, line)
	if !ok {
		return
	}
	sz, err := parseSize(text)
	if err != nil {
		if _, expanded := d.raw[path]; expanded {
			d.fail(line, path, "%q does not expand to a valid size (write a number of bytes with an optional unit, as in \"16KiB\")", s)
		} else {
			d.fail(line, path, "%s", err.Error())
		}
		return
	}
	v.SetInt(int64(sz))
}

func (d *decoder) auth(n *yaml.Node, v reflect.Value, path string, line int) {
	a := Auth{Set: true}
	switch {
	case n.Kind == yaml.MappingNode:
		a.Rule = &AuthRule{}
		d.structure(n, reflect.ValueOf(a.Rule).Elem(), path, line)
	case isNull(n):
		d.fail(line, path, `expected "none" or a mapping (issuers, scopes, roles), got nothing`)
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && n.Value == "none":
		a.None = true
	case n.Kind == yaml.ScalarNode:
		d.fail(line, path, `expected "none" or a mapping (issuers, scopes, roles), got %q`, n.Value)
	default:
		d.fail(line, path, `expected "none" or a mapping (issuers, scopes, roles), got %s`, describe(n))
	}
	v.Set(reflect.ValueOf(a))
}

// joinKey appends a mapping key to a key path. Keys that are not plain words
// are quoted, so that a key holding '.', '[' or control characters can
// neither be mistaken for structure nor inject text into a log line.
func joinKey(path, key string) string {
	switch {
	case !plainKey(key):
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	}
	return path + "." + key
}

func plainKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
