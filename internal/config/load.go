package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxFileSize is the largest configuration file accepted. Real files are a
// few kilobytes; the cap keeps a wrong path (a log, a device) from being
// read whole.
const maxFileSize = 4 << 20

// Load reads and parses the configuration file at path, expanding ${NAME}
// references from the process environment. Any problem is returned as
// Errors.
func Load(path string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	return Parse(path, data, os.LookupEnv)
}

// readFile reads at most maxFileSize bytes of a regular file. Its errors
// do not repeat the path, which the caller reports as Error.File.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open the file: %s", fileProblem(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read the file: %s", fileProblem(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("is not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the file: %s", fileProblem(err))
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("is larger than %d bytes", maxFileSize)
	}
	return data, nil
}

// Parse parses a configuration held in data. file names it in errors and in
// cfg.Source. ${NAME} references are looked up with lookupEnv (nil: no
// variable is set).
//
// The returned configuration has its defaults applied and is fully
// validated. On any problem Parse returns nil and Errors holding every
// problem found, sorted by line.
func Parse(file string, data []byte, lookupEnv func(string) (string, bool)) (cfg *Config, err error) {
	if len(data) > maxFileSize {
		return nil, Errors{{File: file, Msg: fmt.Sprintf("is larger than %d bytes", maxFileSize)}}
	}
	root, perr := parseYAML(file, data)
	if perr != nil {
		return nil, Errors{perr}
	}

	if root.Kind != yaml.MappingNode {
		return nil, Errors{{File: file, Line: root.Line, Msg: "expected a mapping of keys (gateway, upstreams, routes, ...) at the top level, got " + describe(root)}}
	}
	d := newDecoder(file, lookupEnv)
	cfg = &Config{}
	d.refuseAliases(root)
	d.value(root, reflect.ValueOf(cfg).Elem(), "", root.Line)
	cfg.Source = &Source{File: file, Lines: d.lines}

	if !d.full {
		applyDefaults(cfg, d.lines)
		v := &validator{src: cfg.Source, raw: d.raw, bad: d.bad}
		validate(cfg, v)
		d.errs = append(d.errs, v.errs...)
	}
	if errs := d.errs; len(errs) > 0 {
		errs.sortByLine()
		if d.full || len(errs) > maxErrors {
			errs = append(errs[:min(len(errs), maxErrors)],
				&Error{File: file, Msg: fmt.Sprintf("too many problems; showing the first %d", maxErrors)})
		}
		return nil, errs
	}
	return cfg, nil
}

// parseYAML parses exactly one YAML document and returns its root node.
func parseYAML(file string, data []byte) (root *yaml.Node, err *Error) {
	defer func() {
		// yaml.v3 is third-party code facing untrusted input; a panic in it
		// must not take the process down (on reload it would kill a
		// serving gateway).
		if r := recover(); r != nil {
			root, err = nil, &Error{File: file, Msg: "invalid YAML: the parser failed on this file"}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if e := dec.Decode(&doc); e != nil {
		if errors.Is(e, io.EOF) {
			return nil, &Error{File: file, Msg: "the file is empty (see docs/config.md for a minimal configuration)"}
		}
		return nil, yamlError(file, e)
	}
	var next yaml.Node
	switch e := dec.Decode(&next); {
	case e == nil:
		return nil, &Error{File: file, Line: next.Line, Msg: "multiple YAML documents are not allowed (remove the second \"---\")"}
	case !errors.Is(e, io.EOF):
		return nil, yamlError(file, e)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &Error{File: file, Msg: "the file is empty (see docs/config.md for a minimal configuration)"}
	}
	return doc.Content[0], nil
}

// yamlError turns a yaml.v3 syntax error ("yaml: line 3: did not find
// expected key") into a located Error.
func yamlError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, text
			}
		}
	}
	return &Error{File: file, Line: line, Msg: "invalid YAML: " + msg}
}
