package rfc9111

import (
	"net/http"
	"reflect"
	"testing"
)

func TestEndToEnd(t *testing.T) {
	in := hdr(
		"Connection", "a, B", "Connection", "keep-alive",
		"A", "1", "B", "2", "C", "3",
		"Keep-Alive", "timeout=5", "Proxy-Connection", "x", "TE", "trailers",
		"Transfer-Encoding", "chunked", "Upgrade", "h2c", "Proxy-Authenticate", "Basic",
		"Proxy-Authorization", "x", "Trailer", "X",
		"Content-Type", "text/plain", "Set-Cookie", "a=b", "Set-Cookie", "c=d",
		"WWW-Authenticate", "Basic", "Strict-Transport-Security", "max-age=1",
	)
	before := in.Clone()
	got := EndToEnd(in)
	want := hdr("C", "3", "Content-Type", "text/plain", "Set-Cookie", "a=b", "Set-Cookie", "c=d",
		"WWW-Authenticate", "Basic", "Strict-Transport-Security", "max-age=1")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EndToEnd:\n got %v\nwant %v", got, want)
	}
	if !reflect.DeepEqual(in, before) {
		t.Error("EndToEnd modified its argument")
	}
	got["Set-Cookie"][0] = "changed"
	if in["Set-Cookie"][0] != "a=b" {
		t.Error("EndToEnd shares value slices")
	}
	if got := EndToEnd(http.Header{}); len(got) != 0 {
		t.Errorf("empty: %v", got)
	}
}

func TestStoredHeader(t *testing.T) {
	in := hdr("Cache-Control", `no-cache="a"`, "Cache-Control", `max-age=3600, private="Set-Cookie"`,
		"A", "1", "B", "2", "Set-Cookie", "s=1", "Connection", "c", "C", "3")
	got := StoredHeader(in)
	want := hdr("Cache-Control", `no-cache="a"`, "Cache-Control", `max-age=3600, private="Set-Cookie"`, "B", "2")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("StoredHeader:\n got %v\nwant %v", got, want)
	}
	// CDN-Cache-Control is the policy when valid.
	in = hdr("CDN-Cache-Control", `private="x-user"`, "Cache-Control", `no-cache="a"`, "A", "1", "X-User", "u")
	got = StoredHeader(in)
	want = hdr("CDN-Cache-Control", `private="x-user"`, "Cache-Control", `no-cache="a"`, "A", "1")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("StoredHeader with CDN-Cache-Control:\n got %v\nwant %v", got, want)
	}
}

func TestUpdate304(t *testing.T) {
	stored := hdr(
		"Cache-Control", "max-age=1", "Date", at(-100), "Age", "50", "Etag", `"x"`,
		"Content-Type", "text/plain", "Content-Length", "5", "Content-Encoding", "gzip",
		"Test-Header", "A", "Set-Cookie", "a=b", "Keep", "me",
	)
	before := stored.Clone()
	nm := hdr(
		"Cache-Control", "max-age=3600", "Date", at(0), "Etag", `"x"`,
		"Content-Type", "text/plain;charset=utf-8", "Content-Length", "0", "Content-Encoding", "br",
		"Content-Range", "bytes */5", "Test-Header", "B", "Set-Cookie", "a=c", "Set-Cookie", "d=e",
		"Connection", "X-Hop", "X-Hop", "1", "Transfer-Encoding", "chunked",
	)
	got := Update304(stored, nm)
	want := hdr(
		"Cache-Control", "max-age=3600", "Date", at(0), "Etag", `"x"`,
		"Content-Type", "text/plain;charset=utf-8", "Content-Length", "5", "Content-Encoding", "gzip",
		"Test-Header", "B", "Set-Cookie", "a=c", "Set-Cookie", "d=e", "Keep", "me",
	)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Update304:\n got %v\nwant %v", got, want)
	}
	if !reflect.DeepEqual(stored, before) {
		t.Error("Update304 modified stored")
	}
	// A 304 without Date or Age: the stored ones no longer apply.
	got = Update304(stored, hdr("Cache-Control", "max-age=60"))
	if _, ok := got["Date"]; ok {
		t.Errorf("stale Date kept: %v", got)
	}
	if _, ok := got["Age"]; ok {
		t.Errorf("stale Age kept: %v", got)
	}
	// A 304 with Age keeps it.
	got = Update304(stored, hdr("Age", "3", "Date", at(0)))
	if got.Get("Age") != "3" || got.Get("Cache-Control") != "max-age=1" {
		t.Errorf("304 Age: %v", got)
	}
	// The 304's qualified no-cache removes the field.
	got = Update304(stored, hdr("Cache-Control", `max-age=60, no-cache="Test-Header"`))
	if _, ok := got["Test-Header"]; ok {
		t.Errorf("no-cache field kept: %v", got)
	}
}
