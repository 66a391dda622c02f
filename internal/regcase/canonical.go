package regcase

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// canonicalize re-encodes raw, the output of json.Marshal (compact, valid
// JSON), in the canonical form of CanonicalJSON in one pass: object keys
// sorted (the last of duplicate keys wins, as when decoding into a map),
// numbers and literals copied, and strings copied when they hold no escape
// and are valid UTF-8 (json.Marshal would write them back unchanged);
// every other string is decoded and encoded again by encoding/json. Its
// output is byte for byte that of canonicalDecoded, without building the
// generic tree (TestCanonicalJSONMatchesDecoded and FuzzCanonicalJSON
// hold it to that). ok is false for input it does not expect; the caller
// then takes the decoding path.
func canonicalize(raw []byte) (out json.RawMessage, ok bool) {
	c := canonicalizer{src: raw}
	out, ok = c.value(make([]byte, 0, len(raw)))
	if !ok || c.pos != len(raw) {
		return nil, false
	}
	return out, true
}

type canonicalizer struct {
	src []byte
	pos int
}

type canonicalMember struct {
	key string // decoded, for sorting
	enc []byte // the key's canonical encoding, quotes included
	val []byte // the value's canonical encoding
}

func (c *canonicalizer) value(out []byte) ([]byte, bool) {
	if c.pos >= len(c.src) {
		return out, false
	}
	switch b := c.src[c.pos]; {
	case b == '{':
		return c.object(out)
	case b == '[':
		return c.array(out)
	case b == '"':
		_, enc, ok := c.str()
		return append(out, enc...), ok
	case b == 't':
		return c.literal(out, "true")
	case b == 'f':
		return c.literal(out, "false")
	case b == 'n':
		return c.literal(out, "null")
	case b == '-' || (b >= '0' && b <= '9'):
		start := c.pos
		for c.pos < len(c.src) && strings.IndexByte("+-.0123456789eE", c.src[c.pos]) >= 0 {
			c.pos++
		}
		return append(out, c.src[start:c.pos]...), true
	}
	return out, false
}

func (c *canonicalizer) literal(out []byte, lit string) ([]byte, bool) {
	if !bytes.HasPrefix(c.src[c.pos:], []byte(lit)) {
		return out, false
	}
	c.pos += len(lit)
	return append(out, lit...), true
}

func (c *canonicalizer) array(out []byte) ([]byte, bool) {
	c.pos++ // [
	out = append(out, '[')
	for first := true; ; first = false {
		if c.pos >= len(c.src) {
			return out, false
		}
		if c.src[c.pos] == ']' {
			c.pos++
			return append(out, ']'), true
		}
		if !first {
			if c.src[c.pos] != ',' {
				return out, false
			}
			c.pos++
			out = append(out, ',')
		}
		var ok bool
		if out, ok = c.value(out); !ok {
			return out, false
		}
	}
}

func (c *canonicalizer) object(out []byte) ([]byte, bool) {
	c.pos++ // {
	var members []canonicalMember
	for first := true; ; first = false {
		if c.pos >= len(c.src) {
			return out, false
		}
		if c.src[c.pos] == '}' {
			c.pos++
			break
		}
		if !first {
			if c.src[c.pos] != ',' {
				return out, false
			}
			c.pos++
		}
		if c.pos >= len(c.src) || c.src[c.pos] != '"' {
			return out, false
		}
		key, enc, ok := c.str()
		if !ok || c.pos >= len(c.src) || c.src[c.pos] != ':' {
			return out, false
		}
		c.pos++
		val, ok := c.value(nil)
		if !ok {
			return out, false
		}
		members = append(members, canonicalMember{key: key, enc: enc, val: val})
	}
	// Stable, so that of equal keys the last one read stays last: it is
	// the one a map would have kept.
	slices.SortStableFunc(members, func(a, b canonicalMember) int { return strings.Compare(a.key, b.key) })
	out = append(out, '{')
	n := 0
	for i, m := range members {
		if i+1 < len(members) && members[i+1].key == m.key {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		n++
		out = append(out, m.enc...)
		out = append(out, ':')
		out = append(out, m.val...)
	}
	return append(out, '}'), true
}

// str reads the string at c.pos and returns its decoded value and its
// canonical encoding.
func (c *canonicalizer) str() (string, []byte, bool) {
	start := c.pos
	escaped := false
	for i := start + 1; i < len(c.src); i++ {
		switch c.src[i] {
		case '\\':
			escaped = true
			i++ // skip the escaped byte (a quote cannot end the string here)
		case '"':
			c.pos = i + 1
			span := c.src[start:c.pos]
			content := span[1 : len(span)-1]
			if !escaped && plainString(content) {
				return string(content), span, true
			}
			var s string
			if err := json.Unmarshal(span, &s); err != nil {
				return "", nil, false
			}
			enc, err := json.Marshal(s)
			if err != nil {
				return "", nil, false
			}
			return s, enc, true
		}
	}
	return "", nil, false
}

// plainString reports whether json.Marshal writes a string with these bytes
// as they are: valid UTF-8 with nothing it escapes (control characters,
// <, >, &, U+2028, U+2029).
func plainString(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return utf8.Valid(b) && !bytes.Contains(b, []byte("\u2028")) && !bytes.Contains(b, []byte("\u2029"))
}
