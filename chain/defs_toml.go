package chain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// compileTOML turns a TOML network definition into the equivalent JSON
// document, losslessly: keys keep their spelling and document order, integers
// stay integers, floats keep a decimal point, tables become objects and
// arrays of tables become arrays of objects. TOML values JSON cannot hold
// (datetimes, inf, nan) are errors. The returned index gives the line of
// each key path, for errors found later.
func compileTOML(file string, src []byte) ([]byte, *tomlIndex, error) {
	var tree map[string]any
	if _, err := toml.Decode(string(src), &tree); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, nil, &DefError{File: file, Line: pe.Position.Line, Col: pe.Position.Col, Msg: pe.Message, Err: err}
		}
		return nil, nil, &DefError{File: file, Msg: err.Error(), Err: err}
	}
	idx := indexTOML(string(src))
	c := &tomlCompiler{file: file, idx: idx}
	c.enc = json.NewEncoder(&c.buf)
	c.enc.SetEscapeHTML(false)
	if err := c.value("", tree); err != nil {
		return nil, nil, err
	}
	return c.buf.Bytes(), idx, nil
}

type tomlCompiler struct {
	file string
	idx  *tomlIndex
	buf  bytes.Buffer
	enc  *json.Encoder
}

func (c *tomlCompiler) fail(path, format string, a ...any) error {
	return &DefError{File: c.file, Line: c.idx.lineOf(path), Path: path, Msg: fmt.Sprintf(format, a...)}
}

func (c *tomlCompiler) value(path string, v any) error {
	switch v := v.(type) {
	case map[string]any:
		return c.table(path, v)
	case []map[string]any:
		c.buf.WriteByte('[')
		for i, t := range v {
			if i > 0 {
				c.buf.WriteByte(',')
			}
			if err := c.table(indexPath(path, i), t); err != nil {
				return err
			}
		}
		c.buf.WriteByte(']')
	case []any:
		c.buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				c.buf.WriteByte(',')
			}
			if err := c.value(indexPath(path, i), e); err != nil {
				return err
			}
		}
		c.buf.WriteByte(']')
	case string:
		c.str(v)
	case int64:
		c.buf.WriteString(strconv.FormatInt(v, 10))
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return c.fail(path, "%v has no JSON form", v)
		}
		c.buf.WriteString(jsonFloat(v))
	case bool:
		c.buf.WriteString(strconv.FormatBool(v))
	case time.Time:
		return c.fail(path, "a TOML datetime has no JSON form; quote it to make it a string")
	default:
		return c.fail(path, "unsupported TOML value of type %T", v)
	}
	return nil
}

// table writes t's keys in document order (keys the index missed go last,
// sorted).
func (c *tomlCompiler) table(path string, t map[string]any) error {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		oi, oj := c.idx.order(joinPath(path, keys[i])), c.idx.order(joinPath(path, keys[j]))
		switch {
		case oi >= 0 && oj >= 0:
			return oi < oj
		case oi >= 0 || oj >= 0:
			return oi >= 0
		}
		return keys[i] < keys[j]
	})
	c.buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			c.buf.WriteByte(',')
		}
		c.str(k)
		c.buf.WriteByte(':')
		if err := c.value(joinPath(path, k), t[k]); err != nil {
			return err
		}
	}
	c.buf.WriteByte('}')
	return nil
}

// str writes s as a JSON string (without escaping <, > and &). Encoding a
// string cannot fail; Encode ends it with a newline, which is dropped.
func (c *tomlCompiler) str(s string) {
	_ = c.enc.Encode(s)
	c.buf.Truncate(c.buf.Len() - 1)
}

// jsonFloat formats f like encoding/json does, but always with a decimal
// point or an exponent, so the number reads back as a float.
func jsonFloat(f float64) string {
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	s := strconv.FormatFloat(f, format, -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}
