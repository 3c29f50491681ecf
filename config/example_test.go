package config

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// schemaPaths lists the dotted path of every leaf field of struct type t;
// the fields of list elements are under "path[]".
func schemaPaths(t reflect.Type, prefix string) []string {
	var out []string
	fs := fieldsOf(t)
	for _, name := range fs.names {
		ft := t.Field(fs.index[name]).Type
		path := join(prefix, name)
		switch {
		case reflect.PointerTo(ft).Implements(textUnmarshalerType):
			out = append(out, path)
		case ft.Kind() == reflect.Struct:
			out = append(out, schemaPaths(ft, path)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, path)
			out = append(out, schemaPaths(ft.Elem(), path+"[]")...)
		default:
			out = append(out, path)
		}
	}
	return out
}

// documentPaths lists the dotted path of every key in the YAML tree n and,
// for each, whether a comment documents it.
func documentPaths(n *yaml.Node, prefix string, out map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := join(prefix, k.Value)
			c := k.HeadComment + k.LineComment + v.LineComment
			if i == 0 {
				c += n.HeadComment // a list item's first key: the comment sits on the item
			}
			out[path] = strings.TrimSpace(c) != ""
			documentPaths(v, path, out)
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			documentPaths(item, prefix+"[]", out)
		}
	}
}

func TestSchemaPaths(t *testing.T) {
	got := schemaPaths(reflect.TypeFor[testRoot](), "")
	want := []string{"cache.memory", "cache.disks", "cache.disks[].path", "cache.disks[].size",
		"cache.disks[].optional", "cache.tags", "cache.weight", "cache.shards"}
	if !slices.Equal(got, want) {
		t.Errorf("schemaPaths = %q, want %q", got, want)
	}
}

func TestExampleYAML(t *testing.T) {
	data, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	root, err := parseYAML(data)
	if err != nil || root == nil {
		t.Fatalf("example.yaml does not parse: %v", err)
	}
	documented := map[string]bool{}
	documentPaths(root, "", documented)
	for _, path := range schemaPaths(reflect.TypeFor[Config](), "") {
		doc, ok := documented[path]
		switch {
		case !ok:
			t.Errorf("example.yaml does not list %s", path)
		case !doc:
			t.Errorf("example.yaml does not explain %s in a comment", path)
		}
	}

	cfg, err := Load("example.yaml")
	if err != nil {
		t.Fatalf("example.yaml does not load: %v", err)
	}
	// The values listed are the defaults.
	want := Default()
	want.Origin.URL = cfg.Origin.URL
	want.Cache.Disks = cfg.Cache.Disks // the default is none; the example shows the form
	want.Cache.TTLOverrides = cfg.Cache.TTLOverrides
	want.Upstreams = cfg.Upstreams // likewise
	if !reflect.DeepEqual(exported(cfg), exported(want)) {
		t.Errorf("example.yaml values differ from Default():\n got %+v\nwant %+v", exported(cfg), exported(want))
	}
}
