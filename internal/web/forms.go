package web

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// form is what a person typed into one form and what was wrong with it. It
// is rendered back on error so that nothing typed is ever lost.
type form struct {
	Values  url.Values
	Errors  map[string]string
	Message string   // about the whole form
	order   []string // the controls in page order, for the error summary
}

// fieldError is one line of the error summary.
type fieldError struct{ ID, Message string }

// Summary lists the field errors in the order the controls appear.
func (f *form) Summary() []fieldError {
	if f == nil {
		return nil
	}
	keys := make([]string, 0, len(f.Errors))
	for k := range f.Errors {
		keys = append(keys, k)
	}
	pos := func(k string) int {
		if i := slices.Index(f.order, k); i >= 0 {
			return i
		}
		return len(f.order)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if d := pos(a) - pos(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	out := make([]fieldError, len(keys))
	for i, k := range keys {
		out[i] = fieldError{ID: fieldID(k), Message: f.Errors[k]}
	}
	return out
}

// fieldID is a control's default id.
func fieldID(name string) string { return strings.NewReplacer(".", "-", "_", "-").Replace(name) }

func newForm(v url.Values) *form {
	if v == nil {
		v = url.Values{}
	}
	return &form{Values: v, Errors: map[string]string{}}
}

// Get returns the value typed for name.
func (f *form) Get(name string) string {
	if f == nil {
		return ""
	}
	return f.Values.Get(name)
}

// Err returns the message for name, if any.
func (f *form) Err(name string) string {
	if f == nil {
		return ""
	}
	return f.Errors[name]
}

// HasErrors reports whether anything is wrong.
func (f *form) HasErrors() bool { return f != nil && (len(f.Errors) > 0 || f.Message != "") }

// fail records msg against field; an unknown field becomes the form message.
func (f *form) fail(field, msg string, known ...string) {
	for _, k := range known {
		if k == field {
			if f.Errors[field] == "" {
				f.Errors[field] = msg
			}
			return
		}
	}
	f.Message = msg
}

// fieldView is one labelled control.
type fieldView struct {
	Name, ID, Label, Type, Hint, Value, Err, Autocomplete, Placeholder string
	Required, Readonly                                                 bool
	Max, Rows                                                          int
	Options                                                            []option
}

type option struct {
	Value, Label string
	Selected     bool
}

// Describedby lists the hint and error ids of the control.
func (f fieldView) Describedby() string {
	var ids []string
	if f.Hint != "" {
		ids = append(ids, f.ID+"-hint")
	}
	if f.Err != "" {
		ids = append(ids, f.ID+"-error")
	}
	return strings.Join(ids, " ")
}

// newField builds a control for the template partials. opts are "required",
// "readonly", or key=value with key one of type, hint, id, prefix, max, rows,
// autocomplete, placeholder, value (a default when the form has none).
func newField(f *form, name, label string, opts ...string) fieldView {
	v := fieldView{Name: name, Label: label, Type: "text", Value: f.Get(name), Err: f.Err(name)}
	prefix, def := "", ""
	for _, o := range opts {
		k, val, _ := strings.Cut(o, "=")
		switch k {
		case "required":
			v.Required = true
		case "readonly":
			v.Readonly = true
		case "type":
			v.Type = val
		case "hint":
			v.Hint = val
		case "id":
			v.ID = val
		case "prefix":
			prefix = val
		case "max":
			v.Max, _ = strconv.Atoi(val)
		case "rows":
			v.Rows, _ = strconv.Atoi(val)
		case "autocomplete":
			v.Autocomplete = val
		case "placeholder":
			v.Placeholder = val
		case "value":
			def = val
		}
	}
	if v.ID == "" {
		v.ID = fieldID(name)
		if prefix != "" {
			v.ID = prefix + "-" + v.ID
		}
	}
	if f == nil || (f.Values.Get(name) == "" && !f.Values.Has(name)) {
		v.Value = def
	}
	if v.Readonly && def != "" {
		v.Value = def
	}
	return v
}

// withOptions adds select options; values are "value" or "value|Label".
// The option equal to the field's value is selected; an empty leading
// value means "any" or "choose".
func withOptions(v fieldView, values []string) fieldView {
	v.Options = make([]option, 0, len(values))
	for _, s := range values {
		val, lab, ok := strings.Cut(s, "|")
		if !ok {
			lab = humanize(val)
		}
		v.Options = append(v.Options, option{Value: val, Label: lab, Selected: val == v.Value})
	}
	return v
}
