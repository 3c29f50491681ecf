package popularity

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"
)

const goodLine = `{"time":"2026-01-05T20:15:02.123456789Z","client":"192.0.2.7","method":"GET","path":"/v/title1/seg1.m4s","range":"bytes=0-1048575","status":206,"bytes":1048576,"cache":"hit","ttfb":0.000081,"duration":0.00412,"upstream_bytes":0}`

func day(y int, m time.Month, d int) int64 {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		ok     bool
		path   string
		status int
		bytes  int64
		day    int64
	}{
		{"daemon line", goodLine, true, "/v/title1/seg1.m4s", 206, 1048576, day(2026, 1, 5)},
		{"no fraction", `{"time":"2026-02-28T23:59:59Z","path":"/a","status":200,"bytes":5}`, true, "/a", 200, 5, day(2026, 2, 28)},
		{"offset time", `{"time":"2026-03-01T01:00:00+02:00","path":"/a","status":200,"bytes":5}`, true, "/a", 200, 5, day(2026, 2, 28)},
		{"escaped path", `{"time":"2026-01-05T00:00:00Z","path":"/v/a\u0026b/1.m4s","status":206,"bytes":1}`, true, "/v/a&b/1.m4s", 206, 1, day(2026, 1, 5)},
		{"escaped key", `{"time":"2026-01-05T00:00:00Z","pa\u0074h":"/x","status":206,"bytes":1}`, true, "/x", 206, 1, day(2026, 1, 5)},
		{"repeated field: last wins", `{"time":"2026-01-05T00:00:00Z","path":"/x","path":"/y","status":206,"bytes":1}`, true, "/y", 206, 1, day(2026, 1, 5)},
		{"nested unknown field", `{"x":{"a":[1,2,{"b":null}],"c":true},"time":"2026-01-05T00:00:00Z","path":"/x","status":200,"bytes":0}`, true, "/x", 200, 0, day(2026, 1, 5)},
		{"spaces", ` { "time" : "2026-01-05T00:00:00Z" , "path" : "/x" , "status" : 200 , "bytes" : 7 } `, true, "/x", 200, 7, day(2026, 1, 5)},
		{"leap day", `{"time":"2024-02-29T12:00:00Z","path":"/x","status":200,"bytes":7}`, true, "/x", 200, 7, day(2024, 2, 29)},
		{"not a leap day", `{"time":"2026-02-29T12:00:00Z","path":"/x","status":200,"bytes":7}`, false, "", 0, 0, 0},
		{"missing bytes", `{"time":"2026-01-05T00:00:00Z","path":"/x","status":200}`, false, "", 0, 0, 0},
		{"float bytes", `{"time":"2026-01-05T00:00:00Z","path":"/x","status":200,"bytes":1.5}`, false, "", 0, 0, 0},
		{"negative bytes", `{"time":"2026-01-05T00:00:00Z","path":"/x","status":200,"bytes":-1}`, false, "", 0, 0, 0},
		{"string status", `{"time":"2026-01-05T00:00:00Z","path":"/x","status":"200","bytes":1}`, false, "", 0, 0, 0},
		{"bad time", `{"time":"yesterday","path":"/x","status":200,"bytes":1}`, false, "", 0, 0, 0},
		{"truncated", goodLine[:len(goodLine)-10], false, "", 0, 0, 0},
		{"text after", goodLine + ` x`, false, "", 0, 0, 0},
		{"trailing comma", `{"time":"2026-01-05T00:00:00Z","path":"/x","status":200,"bytes":1,}`, false, "", 0, 0, 0},
		{"array", `[1,2]`, false, "", 0, 0, 0},
		{"empty", ``, false, "", 0, 0, 0},
		{"control byte in string", "{\"time\":\"2026-01-05T00:00:00Z\",\"path\":\"/x\x01\",\"status\":200,\"bytes\":1}", false, "", 0, 0, 0},
		{"bytes overflow", `{"time":"2026-01-05T00:00:00Z","path":"/x","status":200,"bytes":99999999999999999999}`, false, "", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parser
			var l Line
			err := p.Parse([]byte(tt.line), &l)
			if (err == nil) != tt.ok {
				t.Fatalf("Parse: err %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrLine) {
					t.Errorf("error %v does not wrap ErrLine", err)
				}
				return
			}
			if string(l.Path) != tt.path || l.Status != tt.status || l.Bytes != tt.bytes || l.Day != tt.day {
				t.Errorf("got path %q status %d bytes %d day %d, want %q %d %d %d", l.Path, l.Status, l.Bytes, l.Day, tt.path, tt.status, tt.bytes, tt.day)
			}
		})
	}
}

// FuzzParse checks the hand-written scanner against encoding/json: a line
// it accepts is valid JSON whose fields decode to the same values, and a
// line encoding/json decodes with usable fields is accepted.
func FuzzParse(f *testing.F) {
	f.Add(goodLine)
	f.Add(`{"time":"2026-01-05T00:00:00Z","path":"/v/a\u0026b/1.m4s","status":206,"bytes":1}`)
	f.Add(`{"x":{"a":[1,2.5e3,{"b":null}],"c":true},"time":"2026-03-01T01:00:00+02:00","path":"/x","status":200,"bytes":0}`)
	f.Add(`{"time":"2026-01-05T00:00:00.5Z","path":"/\u00e9","status":-0,"bytes":-0}`)
	f.Add("{\"time\":\"2026-01-05T00:00:00Z\",\"path\":\"\xff\",\"status\":1,\"bytes\":1}")
	f.Fuzz(func(t *testing.T, line string) {
		var p Parser
		var l Line
		err := p.Parse([]byte(line), &l)

		var m map[string]json.RawMessage
		jerr := json.Unmarshal([]byte(line), &m)
		want, wantOK := expected(m)
		if jerr != nil {
			wantOK = false
		}
		if (err == nil) != wantOK {
			t.Fatalf("Parse(%q): err %v; encoding/json: err %v, usable %v", line, err, jerr, wantOK)
		}
		if err == nil && (string(l.Path) != want.path || l.Status != want.status || l.Bytes != want.bytes || l.Day != want.day) {
			t.Fatalf("Parse(%q) = %q %d %d %d; encoding/json: %q %d %d %d", line, l.Path, l.Status, l.Bytes, l.Day, want.path, want.status, want.bytes, want.day)
		}
	})
}

type fields struct {
	path       string
	status     int
	bytes, day int64
}

// expected returns the fields Parse must find in a decoded line, and
// whether it must accept it.
func expected(m map[string]json.RawMessage) (fields, bool) {
	var f fields
	var ts string
	if json.Unmarshal(m["time"], &ts) != nil || json.Unmarshal(m["path"], &f.path) != nil {
		return f, false
	}
	if m["time"][0] != '"' || m["path"][0] != '"' {
		return f, false // null decodes into a string as ""
	}
	tm, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return f, false
	}
	f.day = floorDiv(tm.Unix(), 86400)
	st, err1 := strconv.ParseInt(string(m["status"]), 10, 64)
	n, err2 := strconv.ParseInt(string(m["bytes"]), 10, 64)
	if err1 != nil || err2 != nil || st < 0 || st > 999 || n < 0 {
		return f, false
	}
	f.status, f.bytes = int(st), n
	return f, true
}
