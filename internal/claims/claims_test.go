package claims

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNumericDate(t *testing.T) {
	c := decode(t, `{"exp":1700000000,"frac":1700000000.5,"neg":-1,"str":"1700000000","huge":1e300,"nul":null}`)
	if tm, ok, valid := NumericDate(c, "exp"); !ok || !valid || !tm.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("exp: %v %v %v", tm, ok, valid)
	}
	if tm, _, valid := NumericDate(c, "frac"); !valid || tm.Nanosecond() != 5e8 {
		t.Errorf("frac: %v", tm)
	}
	for _, name := range []string{"neg", "str", "huge", "nul"} {
		if _, ok, valid := NumericDate(c, name); !ok || valid {
			t.Errorf("%s accepted", name)
		}
	}
	if _, ok, valid := NumericDate(c, "absent"); ok || !valid {
		t.Error("absent claim")
	}
}

func TestAudienceMatches(t *testing.T) {
	want := []string{"api", "billing"}
	for aud, ok := range map[string]bool{`"api"`: true, `"other"`: false, `["x","billing"]`: true, `["x",1]`: false, `[]`: false, `null`: false, `42`: false} {
		var v any
		json.Unmarshal([]byte(aud), &v)
		if AudienceMatches(v, want) != ok {
			t.Errorf("aud %s: want %v", aud, ok)
		}
	}
}

func TestAtAndStrings(t *testing.T) {
	c := decode(t, `{"realm_access":{"roles":["a","",3,"b"]},"https://x.test/roles":"admin","scope":"r  w","scp":["r"]}`)
	if v, ok := At(c, "realm_access.roles"); !ok || !slices.Equal(Strings(v, false), []string{"a", "b"}) {
		t.Errorf("nested path: %v", v)
	}
	if v, ok := At(c, "https://x.test/roles"); !ok || !slices.Equal(Strings(v, false), []string{"admin"}) {
		t.Errorf("dotted name: %v", v)
	}
	if _, ok := At(c, "realm_access.nope"); ok {
		t.Error("missing path found")
	}
	if _, ok := At(c, "scope.x"); ok {
		t.Error("path through a string found")
	}
	if v, _ := At(c, "scope"); !slices.Equal(Strings(v, true), []string{"r", "w"}) {
		t.Errorf("scope string: %v", Strings(v, true))
	}
	if Strings(42.0, true) != nil || Strings("", false) != nil {
		t.Error("non-strings")
	}
}

func TestRolesAndScopes(t *testing.T) {
	c := decode(t, `{"realm_access":{"roles":["ops"]},"roles":["x"],"scope":"a b","scp":["c"],"perms":"d e"}`)
	if r := Roles(c, "realm_access.roles"); !slices.Equal(r, []string{"ops"}) {
		t.Errorf("roles %v", r)
	}
	if r := Roles(c, "missing"); r != nil {
		t.Errorf("missing roles %v", r)
	}
	for claim, want := range map[string][]string{"": {"a", "b"}, "scp": {"c"}, "perms": {"d", "e"}, "nope": nil} {
		if got := Scopes(c, claim); !slices.Equal(got, want) {
			t.Errorf("Scopes(%q) = %v, want %v", claim, got, want)
		}
	}
	if got := Scopes(decode(t, `{"scp":["c"]}`), ""); !slices.Equal(got, []string{"c"}) {
		t.Errorf("scp fallback %v", got)
	}
}
