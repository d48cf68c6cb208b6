package chain

import (
	"bytes"
	"encoding/json"
	"errors"
)

// jsonObject parses data as one JSON object and returns its members, raw.
// Syntax errors carry the line and column of the offending byte.
func jsonObject(file string, data []byte) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &DefError{File: file, Msg: "empty file"}
	}
	var top map[string]json.RawMessage
	err := json.Unmarshal(data, &top)
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		line, col := lineCol(data, se.Offset-1)
		return nil, &DefError{File: file, Line: line, Col: col, Msg: se.Error(), Err: err}
	case err != nil || top == nil:
		return nil, &DefError{File: file, Msg: "must be a JSON object, not " + jsonKind(bytes.TrimSpace(data)), Err: err}
	}
	return top, nil
}

// lineCol returns the 1-based line and column of byte offset off in data.
func lineCol(data []byte, off int64) (line, col int) {
	off = max(0, min(off, int64(len(data))))
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// jsonKind names the kind of a raw JSON value for error messages.
func jsonKind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// jsonString decodes raw as a string.
func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// jsonQuote returns s as a JSON string.
func jsonQuote(s string) string {
	b, _ := json.Marshal(s) // a string always encodes
	return string(b)
}
