package falcocompat

import (
	"errors"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	yamlparser "github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// ynode is a YAML node reduced to what the rules language needs: scalars
// with their text and position, sequences, and ordered mappings.
type ynode struct {
	kind   ykind
	value  string // scalars
	quoted bool   // scalar was quoted: "true" stays a string
	line   int
	col    int
	// contentLine and contentCol locate the first character of a
	// scalar's value in the file, so offsets into it can be mapped.
	contentLine, contentCol int
	items                   []*ynode // sequences
	keys, vals              []*ynode // mappings, in order
	// size is the node's size with its aliases written out: one per node,
	// plus the bytes of scalars.
	size int
}

type ykind uint8

const (
	yScalar ykind = iota + 1
	ySeq
	yMap
	yNull
)

func (k ykind) String() string {
	switch k {
	case yScalar:
		return "scalar"
	case ySeq:
		return "sequence"
	case yMap:
		return "mapping"
	}
	return "null"
}

// get returns the value of key in a mapping, or nil.
func (n *ynode) get(key string) *ynode {
	for i, k := range n.keys {
		if k.value == key {
			return n.vals[i]
		}
	}
	return nil
}

// plain returns the node as YAML decoders give it: strings, whole
// numbers as int, floats, booleans, []any and map[string]any.
func (n *ynode) plain() any {
	switch n.kind {
	case yScalar:
		if !n.quoted {
			switch strings.ToLower(n.value) {
			case "true", "yes", "on":
				return true
			case "false", "no", "off":
				return false
			}
			if i, err := strconv.Atoi(n.value); err == nil {
				return i
			}
			if f, err := strconv.ParseFloat(n.value, 64); err == nil {
				return f
			}
		}
		return n.value
	case ySeq:
		out := make([]any, len(n.items))
		for i, it := range n.items {
			out[i] = it.plain()
		}
		return out
	case yMap:
		out := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			out[k.value] = n.vals[i].plain()
		}
		return out
	}
	return nil
}

// parseYAML parses a rules file into its documents. A syntax error is
// returned as a *LoadError with the line and column goccy reports. An
// alias shares the node it names, but whatever reads the node through it
// reads it again: aliased is the size the aliases add (see ynode.size),
// and over, when it is not nil, the first alias with which they add more
// than budget.
func parseYAML(file string, src []byte, budget int) (docs []*ynode, aliased int, over *ynode, err error) {
	f, err := yamlparser.ParseBytes(src, 0)
	if err != nil {
		le := &LoadError{Pos: Pos{File: file}, Code: "LOAD_ERR_YAML_PARSE", Msg: err.Error()}
		var ye yaml.Error
		if errors.As(err, &ye) {
			le.Msg = ye.GetMessage()
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				le.Pos.Line, le.Pos.Column = tk.Position.Line, tk.Position.Column
			}
		}
		if le.Pos.Line == 0 {
			le.Pos.Line, le.Pos.Column = 1, 1
		}
		return nil, 0, nil, le
	}
	lines := strings.Split(string(src), "\n")
	c := &converter{lines: lines, anchors: map[string]*ynode{}, budget: budget}
	for _, d := range f.Docs {
		if d.Body == nil {
			continue
		}
		docs = append(docs, c.convert(d.Body))
	}
	return docs, c.aliased, c.over, nil
}

type converter struct {
	lines   []string
	anchors map[string]*ynode
	// budget, aliased and over: see parseYAML.
	budget  int
	aliased int
	over    *ynode
}

func (c *converter) convert(n ast.Node) *ynode {
	tk := n.GetToken()
	y := &ynode{}
	if tk != nil && tk.Position != nil {
		y.line, y.col = tk.Position.Line, tk.Position.Column
	}
	switch n := n.(type) {
	case *ast.MappingNode:
		y.kind = yMap
		for _, mv := range n.Values {
			c.mapValue(y, mv)
		}
	case *ast.MappingValueNode:
		y.kind = yMap
		c.mapValue(y, n)
	case *ast.SequenceNode:
		y.kind = ySeq
		for _, v := range n.Values {
			y.items = append(y.items, c.convert(v))
		}
	case *ast.AnchorNode:
		v := c.convert(n.Value)
		c.anchors[n.Name.GetToken().Value] = v
		return v
	case *ast.AliasNode:
		if v, ok := c.anchors[n.Value.GetToken().Value]; ok {
			if c.aliased = addSat(c.aliased, v.size); c.aliased > c.budget && c.over == nil {
				c.over = y
			}
			return v
		}
		y.kind = yNull
	case *ast.TagNode:
		return c.convert(n.Value)
	case *ast.NullNode:
		y.kind = yNull
	case *ast.LiteralNode:
		y.kind = yScalar
		y.value = n.Value.Value
		y.contentLine, y.contentCol = c.blockStart(y.line)
	case *ast.StringNode:
		y.kind = yScalar
		y.value = n.Value
		y.contentLine, y.contentCol = y.line, y.col
		if tk.Type == token.SingleQuoteType || tk.Type == token.DoubleQuoteType {
			y.quoted = true
			y.contentCol++
		}
	default:
		// Integers, floats, booleans and the like: keep the source text.
		y.kind = yScalar
		if tk != nil {
			y.value = tk.Value
		}
		y.contentLine, y.contentCol = y.line, y.col
	}
	y.size = 1 + len(y.value)
	for _, l := range [][]*ynode{y.items, y.keys, y.vals} {
		for _, x := range l {
			y.size = addSat(y.size, x.size)
		}
	}
	return y
}

func (c *converter) mapValue(y *ynode, mv *ast.MappingValueNode) {
	y.keys = append(y.keys, c.convert(mv.Key))
	if mv.Value == nil {
		y.vals = append(y.vals, &ynode{kind: yNull})
		return
	}
	y.vals = append(y.vals, c.convert(mv.Value))
}

// blockStart finds the first content character of a block scalar whose
// indicator is on line.
func (c *converter) blockStart(line int) (int, int) {
	for l := line + 1; l <= len(c.lines); l++ {
		text := c.lines[l-1]
		if t := strings.TrimLeft(text, " \t"); t != "" {
			return l, len(text) - len(t) + 1
		}
	}
	return line, 1
}

// offsetPos maps a byte offset in a scalar's value to a line and column of
// the file. Plain, folded and literal scalars change only whitespace
// between the file and the value, so walking both in step finds the spot.
func (c *converter) offsetPos(n *ynode, off int) (int, int) {
	line, col := n.contentLine, n.contentCol
	if line <= 0 || line > len(c.lines) {
		return n.line, n.col
	}
	vi := 0
	for vi < off && vi < len(n.value) {
		vc := n.value[vi]
		if line > len(c.lines) {
			return n.line, n.col
		}
		text := c.lines[line-1]
		if col-1 >= len(text) {
			line, col = line+1, 1
			if vc == '\n' || vc == ' ' {
				vi++
			}
			c.skipIndent(&line, &col)
			continue
		}
		sc := text[col-1]
		switch {
		case sc == vc:
			vi++
			col++
		case vc == ' ' || vc == '\n' || vc == '\t':
			vi++
		case sc == ' ' || sc == '\t':
			col++
		default:
			// Escapes in quoted scalars: give up on exactness.
			vi++
			col++
		}
	}
	return line, col
}

func (c *converter) skipIndent(line, col *int) {
	for *line <= len(c.lines) {
		text := c.lines[*line-1]
		t := strings.TrimLeft(text, " \t")
		if t == "" {
			*line++
			continue
		}
		*col = len(text) - len(t) + 1
		return
	}
}
