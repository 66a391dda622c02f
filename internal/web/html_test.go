package web_test

import (
	"fmt"
	"html"
	"sort"
	"strings"
)

// A small HTML tokenizer, enough for the pages this package writes
// (golang.org/x/net/html is not a dependency of the module).

type token struct {
	kind  byte // 's' start tag, 'e' end tag, 't' text
	tag   string
	attrs map[string]string
	text  string
}

var voidTags = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
	"input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

var rawTags = map[string]bool{"script": true, "style": true, "textarea": true, "title": true}

func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		lt := strings.IndexByte(s[i:], '<')
		if lt < 0 {
			out = append(out, token{kind: 't', text: html.UnescapeString(s[i:])})
			break
		}
		if lt > 0 {
			out = append(out, token{kind: 't', text: html.UnescapeString(s[i : i+lt])})
		}
		i += lt
		switch {
		case strings.HasPrefix(s[i:], "<!--"):
			end := strings.Index(s[i:], "-->")
			if end < 0 {
				return nil, fmt.Errorf("unterminated comment at %d", i)
			}
			i += end + 3
		case strings.HasPrefix(s[i:], "<!"):
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				return nil, fmt.Errorf("unterminated doctype at %d", i)
			}
			i += end + 1
		case strings.HasPrefix(s[i:], "</"):
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				return nil, fmt.Errorf("unterminated end tag at %d", i)
			}
			out = append(out, token{kind: 'e', tag: strings.ToLower(strings.TrimSpace(s[i+2 : i+end]))})
			i += end + 1
		default:
			t, n, err := startTag(s[i:])
			if err != nil {
				return nil, fmt.Errorf("at %d: %w", i, err)
			}
			out = append(out, t)
			i += n
			if rawTags[t.tag] {
				end := strings.Index(strings.ToLower(s[i:]), "</"+t.tag)
				if end < 0 {
					return nil, fmt.Errorf("unterminated <%s>", t.tag)
				}
				out = append(out, token{kind: 't', text: html.UnescapeString(s[i : i+end])})
				i += end
			}
		}
	}
	return out, nil
}

// startTag parses "<name attr=value …>" and returns its length.
func startTag(s string) (token, int, error) {
	i := 1
	for i < len(s) && !strings.ContainsRune(" \t\n\r/>", rune(s[i])) {
		i++
	}
	t := token{kind: 's', tag: strings.ToLower(s[1:i]), attrs: map[string]string{}}
	if t.tag == "" {
		return t, 0, fmt.Errorf("empty tag name")
	}
	for i < len(s) {
		for i < len(s) && strings.ContainsRune(" \t\n\r/", rune(s[i])) {
			i++
		}
		if i >= len(s) {
			break
		}
		if s[i] == '>' {
			return t, i + 1, nil
		}
		start := i
		for i < len(s) && !strings.ContainsRune(" \t\n\r/>=", rune(s[i])) {
			i++
		}
		name := strings.ToLower(s[start:i])
		val := ""
		if i < len(s) && s[i] == '=' {
			i++
			if i < len(s) && (s[i] == '"' || s[i] == '\'') {
				q := s[i]
				end := strings.IndexByte(s[i+1:], q)
				if end < 0 {
					return t, 0, fmt.Errorf("unterminated attribute %s", name)
				}
				val = s[i+1 : i+1+end]
				i += end + 2
			} else {
				start := i
				for i < len(s) && !strings.ContainsRune(" \t\n\r>", rune(s[i])) {
					i++
				}
				val = s[start:i]
			}
		}
		if _, dup := t.attrs[name]; dup {
			return t, 0, fmt.Errorf("<%s> has attribute %s twice", t.tag, name)
		}
		t.attrs[name] = html.UnescapeString(val)
	}
	return t, 0, fmt.Errorf("unterminated <%s>", t.tag)
}

// a11yProblems checks a page's structure: lang on html, exactly one h1, no
// skipped heading levels, the header/nav/main landmarks, unique ids, a label
// for every control, alt on images, a name on every button, and
// aria-describedby pointing at ids that exist.
func a11yProblems(page string) []string {
	toks, err := tokenize(page)
	if err != nil {
		return []string{"does not parse: " + err.Error()}
	}
	var probs []string
	bad := func(f string, a ...any) { probs = append(probs, fmt.Sprintf(f, a...)) }
	ids := map[string]int{}
	labelFor := map[string]bool{}
	count := map[string]int{}
	type control struct {
		tag, id, name string
		inLabel       bool
		aria          bool
	}
	var controls []control
	var describedby []string
	labelDepth, lastLevel := 0, 0
	var button *token
	buttonText := ""
	for i, t := range toks {
		switch t.kind {
		case 's':
			count[t.tag]++
			if id, ok := t.attrs["id"]; ok {
				ids[id]++
			}
			if d := t.attrs["aria-describedby"]; d != "" {
				describedby = append(describedby, strings.Fields(d)...)
			}
			switch t.tag {
			case "html":
				if strings.TrimSpace(t.attrs["lang"]) == "" {
					bad("<html> has no lang attribute")
				}
			case "label":
				labelDepth++
				if f := t.attrs["for"]; f != "" {
					labelFor[f] = true
				}
			case "input", "select", "textarea":
				typ := t.attrs["type"]
				if t.tag == "input" && (typ == "hidden" || typ == "submit" || typ == "button" || typ == "reset" || typ == "image") {
					continue
				}
				_, al := t.attrs["aria-label"]
				_, alb := t.attrs["aria-labelledby"]
				controls = append(controls, control{tag: t.tag, id: t.attrs["id"], name: t.attrs["name"], inLabel: labelDepth > 0, aria: al || alb})
			case "img":
				if _, ok := t.attrs["alt"]; !ok {
					bad("<img src=%q> has no alt", t.attrs["src"])
				}
			case "h1", "h2", "h3", "h4", "h5", "h6":
				lvl := int(t.tag[1] - '0')
				if lastLevel > 0 && lvl > lastLevel+1 {
					bad("heading <%s> follows <h%d>: a level is skipped", t.tag, lastLevel)
				}
				lastLevel = lvl
			case "button":
				button, buttonText = &toks[i], ""
			}
		case 'e':
			switch t.tag {
			case "label":
				labelDepth--
			case "button":
				if button != nil && strings.TrimSpace(buttonText) == "" && button.attrs["aria-label"] == "" {
					bad("a <button> has no text and no aria-label")
				}
				button = nil
			}
		case 't':
			if button != nil {
				buttonText += t.text
			}
		}
	}
	if n := count["h1"]; n != 1 {
		bad("%d <h1> elements, want exactly 1", n)
	}
	for _, lm := range []string{"header", "nav", "main"} {
		if count[lm] == 0 {
			bad("no <%s> landmark", lm)
		}
	}
	if count["main"] > 1 {
		bad("%d <main> elements", count["main"])
	}
	var dups []string
	for id, n := range ids {
		if n > 1 {
			dups = append(dups, id)
		}
	}
	sort.Strings(dups)
	for _, id := range dups {
		bad("id %q is used %d times", id, ids[id])
	}
	for _, c := range controls {
		if c.aria || c.inLabel || (c.id != "" && labelFor[c.id]) {
			continue
		}
		bad("<%s name=%q id=%q> has no label", c.tag, c.name, c.id)
	}
	for _, id := range describedby {
		if ids[id] == 0 {
			bad("aria-describedby names id %q, which does not exist", id)
		}
	}
	return probs
}

// form is a form found in a page: where it posts and its controls by name.
type pageForm struct {
	id, action, method string
	fields             map[string]string   // name -> value (selected option for a select)
	options            map[string][]string // select name -> option values
	order              []string
}

// forms lists the page's forms.
func forms(page string) []*pageForm {
	toks, err := tokenize(page)
	if err != nil {
		return nil
	}
	var out []*pageForm
	var cur *pageForm
	var sel string
	var ta string
	for _, t := range toks {
		switch t.kind {
		case 's':
			switch t.tag {
			case "form":
				cur = &pageForm{id: t.attrs["id"], action: t.attrs["action"], method: t.attrs["method"],
					fields: map[string]string{}, options: map[string][]string{}}
				out = append(out, cur)
			case "input":
				if cur != nil && t.attrs["name"] != "" {
					typ := t.attrs["type"]
					if (typ == "checkbox" || typ == "radio") && !has(t.attrs, "checked") {
						cur.add(t.attrs["name"], "")
						continue
					}
					cur.add(t.attrs["name"], t.attrs["value"])
				}
			case "select":
				if cur != nil {
					sel = t.attrs["name"]
					cur.add(sel, "")
				}
			case "option":
				if cur != nil && sel != "" {
					cur.options[sel] = append(cur.options[sel], t.attrs["value"])
					if has(t.attrs, "selected") {
						cur.fields[sel] = t.attrs["value"]
					}
				}
			case "textarea":
				if cur != nil {
					ta = t.attrs["name"]
					cur.add(ta, "")
				}
			}
		case 'e':
			switch t.tag {
			case "form":
				cur = nil
			case "select":
				sel = ""
			case "textarea":
				ta = ""
			}
		case 't':
			if cur != nil && ta != "" {
				cur.fields[ta] = t.text
			}
		}
	}
	return out
}

func has(m map[string]string, k string) bool { _, ok := m[k]; return ok }

func (f *pageForm) add(name, value string) {
	if _, ok := f.fields[name]; !ok {
		f.order = append(f.order, name)
	}
	f.fields[name] = value
}

// names lists the form's field names except the hidden plumbing.
func (f *pageForm) names(skip ...string) []string {
	var out []string
	for _, n := range f.order {
		if n == "csrf" || n == "version" || contains(skip, n) {
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// formByID returns the form with the id, or nil.
func formByID(page, id string) *pageForm {
	for _, f := range forms(page) {
		if f.id == id {
			return f
		}
	}
	return nil
}

// textOf returns the text inside the element with the id.
func textOf(page, id string) string {
	toks, err := tokenize(page)
	if err != nil {
		return ""
	}
	depth := 0
	var b strings.Builder
	for _, t := range toks {
		switch {
		case depth == 0 && t.kind == 's' && t.attrs["id"] == id:
			depth = 1
			if voidTags[t.tag] {
				return t.attrs["value"]
			}
		case depth > 0 && t.kind == 's' && !voidTags[t.tag]:
			depth++
		case depth > 0 && t.kind == 'e':
			depth--
			if depth == 0 {
				return strings.Join(strings.Fields(b.String()), " ")
			}
		case depth > 0 && t.kind == 't':
			b.WriteString(t.text)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
