package fill

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

const sumA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// goodManifest is a valid manifest of two titles, listed out of rank order.
const goodManifest = `{
  "version": 1,
  "generated_at": "2026-11-25T00:00:00Z",
  "titles": [
    {"id": "t2", "rank": 2, "files": [
      {"path": "/v/t2/0001.m4s", "size": 10, "sha256": "` + sumA + `"}
    ]},
    {"id": "t1", "rank": 1, "files": [
      {"path": "/v/t1/0001.m4s", "size": 1048576, "sha256": "` + sumA + `"},
      {"path": "/v/t1/0002.m4s", "size": 0, "sha256": "` + sumA + `"}
    ]}
  ]
}`

func TestParseGood(t *testing.T) {
	m, err := Parse([]byte(goodManifest), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 1 || m.GeneratedAt.Year() != 2026 || len(m.Titles) != 2 || len(m.Digest) != 64 {
		t.Fatalf("parsed %+v", m)
	}
	files, size := m.Files()
	if files != 3 || size != 1048586 {
		t.Errorf("Files() = %d, %d", files, size)
	}
	var got []string
	for _, e := range m.Plan() {
		got = append(got, fmt.Sprintf("%s#%d", e.Path, e.Ordinal))
	}
	want := "/v/t1/0001.m4s#1 /v/t1/0002.m4s#2 /v/t2/0001.m4s#0"
	if strings.Join(got, " ") != want {
		t.Errorf("Plan = %v, want %s", got, want)
	}
}

func TestParseCompressed(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(goodManifest))
	zw.Close()
	enc, _ := zstd.NewWriter(nil)
	zs := enc.EncodeAll([]byte(goodManifest), nil)
	enc.Close()
	plain, _ := Parse([]byte(goodManifest), ParseOptions{})
	for _, tc := range []struct {
		name string
		data []byte
	}{{"gzip", gz.Bytes()}, {"zstd", zs}} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(tc.data, ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Digest != plain.Digest {
				t.Errorf("digest %s, want the plain manifest's %s", m.Digest, plain.Digest)
			}
			if _, err := Parse(tc.data, ParseOptions{MaxBytes: 100}); !errors.Is(err, ErrManifest) {
				t.Errorf("over MaxBytes: err = %v, want ErrManifest", err)
			}
			if _, err := Parse(tc.data[:len(tc.data)/2], ParseOptions{}); err == nil {
				t.Error("truncated: no error")
			}
		})
	}
}

// file returns a manifest with one file object written f.
func withFile(f string) string {
	return `{"version":1,"titles":[{"id":"t","rank":1,"files":[` + f + `]}]}`
}

func TestParseRefused(t *testing.T) {
	okFile := `{"path":"/a","size":1,"sha256":"` + sumA + `"}`
	for _, tc := range []struct {
		name, in string
		pos      string // "line:col" of the error
		want     string // in the message
	}{
		{"empty", ``, "1:1", "invalid JSON"},
		{"syntax", "{\n  \"version\": 1,\n  \"titles\": [}\n", "3:14", "invalid JSON"},
		{"trailing", `{"version":1,"titles":[]} x`, "1:27", "invalid JSON"},
		{"not object", `[]`, "1:1", "want an object"},
		{"no version", `{"titles":[]}`, "1:1", "version: missing"},
		{"no titles", `{"version":1}`, "1:1", "titles: missing"},
		{"version 2", `{"version":2,"titles":[]}`, "1:12", "format version 2"},
		{"version string", `{"version":"1","titles":[]}`, "1:12", "want a number"},
		{"unknown top", `{"version":1,"titles":[],"extra":1}`, "1:26", "extra: unknown field"},
		{"repeated", `{"version":1,"version":1,"titles":[]}`, "1:14", "version: repeated field"},
		{"bad time", `{"version":1,"generated_at":"yesterday","titles":[]}`, "1:29", "RFC 3339"},
		{"titles object", `{"version":1,"titles":{}}`, "1:23", "titles: want an array"},
		{"title null", `{"version":1,"titles":[null]}`, "1:24", "titles[0]: want an object"},
		{"title no id", `{"version":1,"titles":[{"rank":1,"files":[]}]}`, "1:24", "titles[0].id: missing"},
		{"title empty id", `{"version":1,"titles":[{"id":"","rank":1,"files":[]}]}`, "1:30", "titles[0].id: empty"},
		{"dup id", `{"version":1,"titles":[{"id":"x","rank":1,"files":[]},{"id":"x","rank":2,"files":[]}]}`, "1:61", `title "x" already listed at 1:30`},
		{"negative rank", `{"version":1,"titles":[{"id":"x","rank":-1,"files":[]}]}`, "1:41", "rank: -1 is out of range"},
		{"fraction rank", `{"version":1,"titles":[{"id":"x","rank":1.5,"files":[]}]}`, "1:41", "want an integer"},
		{"title unknown", `{"version":1,"titles":[{"id":"x","rank":1,"files":[],"name":"y"}]}`, "1:54", "titles[0].name: unknown field"},
		{"no path", withFile(`{"size":1,"sha256":"` + sumA + `"}`), "1:52", "titles[0].files[0].path: missing"},
		{"no size", withFile(`{"path":"/a","sha256":"` + sumA + `"}`), "1:52", "files[0].size: missing"},
		{"no sha", withFile(`{"path":"/a","size":1}`), "1:52", "files[0].sha256: missing"},
		{"negative size", withFile(`{"path":"/a","size":-1,"sha256":"` + sumA + `"}`), "1:72", "size: -1 is out of range"},
		{"size null", withFile(`{"path":"/a","size":null,"sha256":"` + sumA + `"}`), "1:72", "size: want a number, got null"},
		{"sha short", withFile(`{"path":"/a","size":1,"sha256":"abc"}`), "1:83", "want 64 lower-case hex digits"},
		{"sha upper", withFile(`{"path":"/a","size":1,"sha256":"` + strings.ToUpper(sumA) + `"}`), "1:83", "want 64 lower-case hex digits"},
		{"relative", withFile(`{"path":"a","size":1,"sha256":"` + sumA + `"}`), "1:60", `must start with "/"`},
		{"dotdot", withFile(`{"path":"/a/../b","size":1,"sha256":"` + sumA + `"}`), "1:60", `".." segment`},
		{"double slash", withFile(`{"path":"/a//b","size":1,"sha256":"` + sumA + `"}`), "1:60", "empty segment"},
		{"query", withFile(`{"path":"/a?x=1","size":1,"sha256":"` + sumA + `"}`), "1:60", "must be percent-encoded"},
		{"lower escape", withFile(`{"path":"/a%2f","size":1,"sha256":"` + sumA + `"}`), "1:60", "upper-case hex"},
		{"encoded slash", withFile(`{"path":"/a%2Fb","size":1,"sha256":"` + sumA + `"}`), "1:60", "encoded slash"},
		{"needless escape", withFile(`{"path":"/%61","size":1,"sha256":"` + sumA + `"}`), "1:60", "not canonical"},
		{"control", withFile(`{"path":"/a%00","size":1,"sha256":"` + sumA + `"}`), "1:60", "control byte"},
		{"dup path", withFile(okFile + ",\n" + okFile), "2:9", `"/a" already listed at 1:60`},
		{"file unknown", withFile(`{"path":"/a","size":1,"sha256":"` + sumA + `","md5":""}`), "1:150", "md5: unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.in), ParseOptions{Source: "m.json"})
			if err == nil {
				t.Fatalf("accepted: %+v", m)
			}
			if m != nil {
				t.Error("a refused manifest came back non-nil")
			}
			var me *ManifestError
			if !errors.As(err, &me) || !errors.Is(err, ErrManifest) {
				t.Fatalf("err %T %v, want *ManifestError", err, err)
			}
			if got := fmt.Sprintf("%d:%d", me.Line, me.Column); got != tc.pos {
				t.Errorf("position %s, want %s (%v)", got, tc.pos, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "manifest refused: m.json:"+tc.pos+": ") {
				t.Errorf("error %q, want it to start with the position and contain %q", err, tc.want)
			}
		})
	}
}

func TestParseNormalizeOption(t *testing.T) {
	in := withFile(`{"path":"/A","size":1,"sha256":"` + sumA + `"}`)
	lower := func(p string) (string, error) { return strings.ToLower(p), nil }
	if _, err := Parse([]byte(in), ParseOptions{Normalize: lower}); err == nil || !strings.Contains(err.Error(), `not normalized: the cache key is "/a"`) {
		t.Errorf("err = %v", err)
	}
	refuse := func(string) (string, error) { return "", errors.New("nope") }
	if _, err := Parse([]byte(in), ParseOptions{Normalize: refuse}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("err = %v", err)
	}
}

func TestCheckPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/", true},
		{"/v/t1/0001.m4s", true},
		{"/a/", true},
		{"/a%20b", true},
		{"/%C3%A9", true},
		{"/a:b@c!$&'()*+,;=-._~", true},
		{"/a%25", true},
		{"", false},
		{"a", false},
		{"/a//b", false},
		{"/./a", false},
		{"/a/.", false},
		{"/a/..", false},
		{"/a b", false},
		{"/a%2", false},
		{"/a%zz", false},
		{"/a%5C", false},
		{"/a%7F", false},
		{"/a%7E", false},
		{"/a#b", false},
		{"/é", false},
		{"/" + strings.Repeat("a", MaxPathLength), false},
	} {
		err := CheckPath(tc.path)
		if (err == nil) != tc.ok {
			t.Errorf("CheckPath(%q) = %v, want ok %v", tc.path, err, tc.ok)
		}
	}
}

// signed writes a manifest and its signature sidecar under dir.
func signed(t *testing.T, dir string, priv ed25519.PrivateKey, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, "manifest.json")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if priv != nil {
		if err := os.WriteFile(p+SignatureSuffix, Sign(priv, data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestLoadSignatures(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	data := []byte(goodManifest)
	tampered := bytes.Replace(data, []byte(`"size": 10`), []byte(`"size": 11`), 1)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		write   func(dir string) string
		key     ed25519.PublicKey
		wantErr error
	}{
		{"signed", func(d string) string { return signed(t, d, priv, data) }, pub, nil},
		{"no key, unsigned", func(d string) string { return signed(t, d, nil, data) }, nil, nil},
		{"unsigned", func(d string) string { return signed(t, d, nil, data) }, pub, ErrUnsigned},
		{"other key", func(d string) string { return signed(t, d, other, data) }, pub, ErrBadSignature},
		{"tampered", func(d string) string {
			p := signed(t, d, priv, data)
			os.WriteFile(p, tampered, 0o644)
			return p
		}, pub, ErrBadSignature},
		{"garbage sidecar", func(d string) string {
			p := signed(t, d, nil, data)
			os.WriteFile(p+SignatureSuffix, []byte("not base64!"), 0o644)
			return p
		}, pub, ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.write(t.TempDir())
			m, err := Load(ctx, p, LoadOptions{PublicKey: tc.key})
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil && (m != nil || !strings.Contains(err.Error(), p)) {
				t.Errorf("refused manifest: m %v, error %q should name %s", m, err, p)
			}
		})
	}
}

func TestParsePublicKey(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, s := range []string{fmt.Sprintf("%x", []byte(pub)), " " + base64Std(pub) + "\n"} {
		k, err := ParsePublicKey(s)
		if err != nil || !k.Equal(pub) {
			t.Errorf("ParsePublicKey(%q) = %v, %v", s, k, err)
		}
	}
	for _, s := range []string{"", "abcd", base64Std(pub[:31])} {
		if _, err := ParsePublicKey(s); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", s)
		}
	}
}

func TestLoadURL(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	data := []byte(goodManifest)
	files := map[string][]byte{
		"/m.json":          data,
		"/m.json.sig":      Sign(priv, data),
		"/bad.json":        []byte(`{"version":1}`),
		"/unsigned.json":   data,
		"/big.json":        bytes.Repeat([]byte(" "), 1<<20),
		"/q.json":          data,
		"/q.json.sig":      Sign(priv, data),
		"/broken.json":     data,
		"/broken.json.sig": []byte("x"),
	}
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		if r.URL.Path == "/error.json" {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()
	ctx := context.Background()
	if _, err := Load(ctx, srv.URL+"/m.json", LoadOptions{PublicKey: pub}); err != nil {
		t.Errorf("signed URL: %v", err)
	}
	queries = nil
	if _, err := Load(ctx, srv.URL+"/q.json?token=x", LoadOptions{PublicKey: pub}); err != nil || len(queries) != 2 || queries[1] != "token=x" {
		t.Errorf("URL with a query: %v, queries %v", err, queries)
	}
	for _, tc := range []struct {
		path    string
		opt     LoadOptions
		wantErr error
		want    string
	}{
		{"/bad.json", LoadOptions{}, ErrManifest, "titles: missing"},
		{"/unsigned.json", LoadOptions{PublicKey: pub}, ErrUnsigned, "no signature"},
		{"/broken.json", LoadOptions{PublicKey: pub}, ErrBadSignature, "signature"},
		{"/missing.json", LoadOptions{}, errNotFound, "404"},
		{"/error.json", LoadOptions{}, nil, "500"},
		{"/big.json", LoadOptions{Parse: ParseOptions{MaxBytes: 1000}}, ErrManifest, "more than 1000 bytes"},
	} {
		_, err := Load(ctx, srv.URL+tc.path, tc.opt)
		if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: err = %v, want %v containing %q", tc.path, err, tc.wantErr, tc.want)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(goodManifest))
	f.Add([]byte(withFile(`{"path":"/a","size":1,"sha256":"` + sumA + `"}`)))
	f.Add([]byte(`{"version":1,"titles":[{"id":"x","rank":1,"files":[]},{"id":"x","rank":2,"files":[]}]}`))
	f.Add([]byte("{\n\"version\":1,\n\"titles\":[\n{\"id\":\"é\",\"rank\":0,\"files\":[{\"path\":\"/%C3%A9\",\"size\":0,\"sha256\":\"" + sumA + "\"}]}]}"))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, ParseOptions{MaxBytes: 1 << 20})
		if err != nil {
			if m != nil {
				t.Fatal("error with a manifest")
			}
			var me *ManifestError
			if errors.As(err, &me) && (me.Line < 1 || me.Column < 1 || me.Offset < 0) {
				t.Fatalf("bad position in %v", me)
			}
			return
		}
		// Everything accepted satisfies the rules.
		if m.Version != ManifestVersion {
			t.Fatalf("version %d accepted", m.Version)
		}
		ids, paths := map[string]bool{}, map[string]bool{}
		n := 0
		for _, tt := range m.Titles {
			if tt.ID == "" || ids[tt.ID] || tt.Rank < 0 {
				t.Fatalf("title %+v accepted", tt)
			}
			ids[tt.ID] = true
			for _, f := range tt.Files {
				if CheckPath(f.Path) != nil || paths[f.Path] || f.Size < 0 || !isHex64(f.SHA256) {
					t.Fatalf("file %+v accepted", f)
				}
				paths[f.Path] = true
				n++
			}
		}
		plan := m.Plan()
		if len(plan) != n {
			t.Fatalf("plan of %d files, manifest has %d", len(plan), n)
		}
		for i := 1; i < len(plan); i++ {
			if plan[i].Rank < plan[i-1].Rank {
				t.Fatalf("plan out of rank order at %d", i)
			}
		}
	})
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// The README's example manifest is accepted.
func TestReadmeExample(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Skip("no README:", err)
	}
	s := string(b)
	i := strings.Index(s, "## Fill (prefill")
	if i < 0 {
		t.Fatal("README has no fill section")
	}
	s = s[i:]
	start := strings.Index(s, "```json\n")
	end := strings.Index(s[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("README fill section has no JSON example")
	}
	m, err := Parse([]byte(s[start+8:start+8+end]), ParseOptions{Source: "README.md"})
	if err != nil {
		t.Fatal(err)
	}
	if files, _ := m.Files(); files != 3 {
		t.Errorf("%d files", files)
	}
}
