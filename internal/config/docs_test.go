package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// schemaKeys lists every key of the schema as docs/config.md names it:
// "gateway.limits.max_body", "upstreams.<name>.targets", "routes[].match.path".
func schemaKeys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			keys = append(keys, key)
			ft := f.Type
			switch {
			case ft == reflect.TypeFor[Auth]():
				walk(reflect.TypeFor[AuthRule](), key) // "none" or the mapping form
			case isLeaf(ft):
			case ft.Kind() == reflect.Struct:
				walk(ft, key)
			case ft.Kind() == reflect.Map:
				keys = append(keys, key+".<name>")
				walk(ft.Elem().Elem(), key+".<name>")
			case ft.Kind() == reflect.Slice:
				keys = append(keys, key+"[]")
				walk(ft.Elem(), key+"[]")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return keys
}

// isLeaf reports whether a field of type t holds a value rather than more keys.
func isLeaf(t reflect.Type) bool {
	switch {
	case t == reflect.TypeFor[Auth](), t == reflect.TypeFor[Duration](), t == reflect.TypeFor[Size]():
		return true
	case t.Kind() == reflect.Struct:
		return false
	case t.Kind() == reflect.Map:
		return t.Elem().Kind() != reflect.Pointer
	case t.Kind() == reflect.Slice:
		return t.Elem().Kind() != reflect.Struct
	}
	return true
}

func leafKeys() map[string]bool {
	leaves := make(map[string]bool)
	for _, k := range schemaKeys() {
		leaves[k] = true
	}
	// Remove every key that has a child.
	for _, k := range schemaKeys() {
		for p := k; p != ""; {
			i := strings.LastIndexAny(p, ".[")
			if i <= 0 {
				break
			}
			p = p[:i]
			delete(leaves, p)
			delete(leaves, p+"[]")
		}
	}
	// auth is a value ("none") as well as a mapping.
	leaves["routes[].auth"] = true
	return leaves
}

// docKey turns a concrete key path into its schema name.
func docKey(p string) string {
	for _, r := range []struct{ re, repl string }{
		{`^routes\[\d+\]`, `routes[]`},
		{`^issuers\[\d+\]`, `issuers[]`},
		{`^upstreams(\.[A-Za-z0-9_-]+|\["(?:[^"\\]|\\.)*"\])`, `upstreams.<name>`},
		{`^gateway\.security_headers(\..*|\[.*)$`, `gateway.security_headers`},
		{`\[\d+\]$`, ``},
	} {
		p = regexp.MustCompile(r.re).ReplaceAllString(p, r.repl)
	}
	return p
}

// docRows returns the reference tables of docs/config.md: key → cells.
func docRows(t *testing.T, doc string) map[string][]string {
	t.Helper()
	rows := make(map[string][]string)
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		key := strings.Trim(cells[0], "`")
		if _, dup := rows[key]; dup {
			t.Errorf("docs/config.md: %s has two rows", key)
		}
		rows[key] = cells
	}
	return rows
}

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatalf("the reference must exist: %v", err)
	}
	return string(b)
}

// TestDocsCoverSchema keeps docs/config.md true: every key is documented,
// every value key has a table row, and every row is a real key.
func TestDocsCoverSchema(t *testing.T) {
	doc := readDoc(t)
	rows := docRows(t, doc)
	for _, k := range schemaKeys() {
		if !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("docs/config.md does not mention `%s`", k)
		}
	}
	leaves := leafKeys()
	for k := range leaves {
		if _, ok := rows[k]; !ok {
			t.Errorf("docs/config.md has no table row for `%s`", k)
		}
	}
	for k, cells := range rows {
		if !leaves[k] {
			t.Errorf("docs/config.md has a row for `%s`, which is not a key", k)
		}
		if len(cells) != 4 {
			t.Errorf("docs/config.md: row %s has %d cells, want 4 (key, type, default, meaning and rule)", k, len(cells))
		}
	}
}

// TestDocsDefaults checks every default in docs/config.md against the table
// that the loader applies.
func TestDocsDefaults(t *testing.T) {
	rows := docRows(t, readDoc(t))
	for _, dv := range defaults() {
		key := strings.ReplaceAll(strings.Replace(strings.Replace(dv.Key, "issuers.*", "issuers[]", 1), "routes.*", "routes[]", 1), "*", "<name>")
		cells, ok := rows[key]
		if !ok || len(cells) < 3 {
			t.Errorf("no row for %s", key)
			continue
		}
		if !strings.Contains(cells[2], "`"+dv.Value+"`") {
			t.Errorf("docs/config.md: %s default is %q, the loader uses `%s`", key, cells[2], dv.Value)
		}
	}
}

// TestDocsExamples parses every complete example of docs/config.md (the YAML
// blocks starting with "# rampart.yaml"). The certificate files they name do
// not exist here, so only those problems are tolerated.
func TestDocsExamples(t *testing.T) {
	doc := readDoc(t)
	blocks := regexp.MustCompile("(?s)```yaml\n(# rampart.yaml.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) < 2 {
		t.Fatalf("found %d complete examples, want a minimal and a full one", len(blocks))
	}
	env := func(name string) (string, bool) {
		if strings.HasSuffix(name, "COOKIE_KEY") {
			return fullCookieKey, true // a key must decode to 32 bytes
		}
		return "example-" + strings.ToLower(name), true
	}
	for i, b := range blocks {
		_, err := Parse("example.yaml", []byte(b[1]), env)
		if err == nil {
			continue
		}
		for _, e := range err.(Errors) {
			if !strings.HasSuffix(e.Msg, "does not exist") {
				t.Errorf("example %d: %v", i+1, e)
			}
		}
	}
}

// TestSchemaKinds: every field of the schema has a kind the decoder handles.
func TestSchemaKinds(t *testing.T) {
	var walk func(t reflect.Type, path string)
	check := func(ty reflect.Type, path string) {
		switch ty.Kind() {
		case reflect.String, reflect.Int, reflect.Bool:
		default:
			t.Errorf("%s: kind %s is not decoded", path, ty.Kind())
		}
	}
	walk = func(ty reflect.Type, path string) {
		for i := range ty.NumField() {
			f := ty.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" {
				t.Errorf("%s.%s has no yaml tag", path, f.Name)
			}
			if name == "-" {
				continue
			}
			ft := f.Type
			switch {
			case ft == reflect.TypeFor[Auth](), ft == reflect.TypeFor[Duration](), ft == reflect.TypeFor[Size]():
			case ft.Kind() == reflect.Struct:
				walk(ft, path+"."+name)
			case ft.Kind() == reflect.Map:
				if ft.Key().Kind() != reflect.String {
					t.Errorf("%s.%s: map keys must be strings", path, name)
				}
				if e := ft.Elem(); e.Kind() == reflect.Pointer {
					walk(e.Elem(), path+"."+name)
				} else {
					check(e, path+"."+name)
				}
			case ft.Kind() == reflect.Slice:
				if e := ft.Elem(); e.Kind() == reflect.Struct {
					walk(e, path+"."+name)
				} else {
					check(e, path+"."+name)
				}
			default:
				check(ft, path+"."+name)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "config")
}
