package falcocompat

import (
	"fmt"
	"strings"

	"github.com/peregrine-sec/peregrine/policy"
)

// The condition grammar, as libsinsp's parser accepts it:
//
//	Expr      = AndExpr { "or" AndExpr }
//	AndExpr   = NotExpr { "and" NotExpr }
//	NotExpr   = { "not" } ( "(" Expr ")" | Check )
//	Check     = Field Condition | Transformer Condition | Identifier
//	Condition = "exists" | NumOp NumValue | StrOp [Modifier List] StrValue
//	          | ListOp List
//	List      = "(" [ StrValue { "," StrValue } ] ")" | Identifier
//
// "not" binds tighter than "and", which binds tighter than "or"; "and" and
// "or" may be mixed without parentheses.
//
// Fields and transformers are scanned by policy.ScanField, which output
// templates share; quoted strings by policy.ScanQuoted.

// node is a parsed condition. Positions are byte offsets in the text.
type node interface{ position() int }

type andNode struct {
	children []node
	pos      int
}

type orNode struct {
	children []node
	pos      int
}

type notNode struct {
	x   node
	pos int
}

// identNode is a bare identifier: a macro reference.
type identNode struct {
	name string
	pos  int
}

type checkNode struct {
	left     *policy.FieldSyntax
	op       string
	modifier string
	values   []string
	// list tells a list value "(a)" from a scalar one "a".
	list bool
	// listName is set when the list was given as an identifier.
	listName string
	right    *policy.FieldSyntax
	pos      int
	// valuePos is where the value starts.
	valuePos int
}

func (n *andNode) position() int   { return n.pos }
func (n *orNode) position() int    { return n.pos }
func (n *notNode) position() int   { return n.pos }
func (n *identNode) position() int { return n.pos }
func (n *checkNode) position() int { return n.pos }

// SyntaxError is a condition or an output template that does not parse.
// Offset counts bytes from the start of the text.
type SyntaxError = policy.SyntaxError

const maxDepth = 1000

type parser struct {
	s     string
	i     int
	depth int
	last  string
}

// parseCondition parses a condition. It returns a *SyntaxError on bad
// input and never panics.
func parseCondition(s string) (n node, err error) {
	p := &parser{s: s}
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(*SyntaxError)
			if !ok {
				panic(r)
			}
			n, err = nil, se
		}
	}()
	p.blanks()
	if p.i >= len(p.s) {
		p.fail("filter input string is empty")
	}
	n = p.orExpr()
	p.blanks()
	if p.i < len(p.s) {
		p.fail(fmt.Sprintf("unexpected token after '%s', expecting 'or', 'and'", p.last))
	}
	return n, nil
}

func (p *parser) fail(msg string) { panic(&SyntaxError{Offset: p.i, Msg: msg}) }

func (p *parser) blanks() int {
	n := 0
	for p.i < len(p.s) && policy.IsBlank(p.s[p.i]) {
		p.i++
		n++
	}
	return n
}

func (p *parser) peek(lit string) bool { return strings.HasPrefix(p.s[p.i:], lit) }

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.fail(fmt.Sprintf("exceeded max depth limit of %d", maxDepth))
	}
}

func (p *parser) orExpr() node {
	p.enter()
	defer func() { p.depth-- }()
	start := p.i
	children := []node{p.andExpr()}
	for p.keyword("or") {
		children = append(children, p.andExpr())
	}
	if len(children) == 1 {
		return children[0]
	}
	return &orNode{children: children, pos: start}
}

func (p *parser) andExpr() node {
	start := p.i
	children := []node{p.notExpr()}
	for p.keyword("and") {
		children = append(children, p.notExpr())
	}
	if len(children) == 1 {
		return children[0]
	}
	return &andNode{children: children, pos: start}
}

// keyword consumes "and" or "or" after an operand, which must be followed
// by a blank or "(".
func (p *parser) keyword(kw string) bool {
	save := p.i
	p.blanks()
	if !p.peek(kw) {
		p.i = save
		return false
	}
	p.i += len(kw)
	if p.i < len(p.s) && (policy.IsBlank(p.s[p.i]) || p.s[p.i] == '(') {
		p.last = kw
		p.blanks()
		return true
	}
	p.fail(fmt.Sprintf("expected blank or '(' after '%s'", kw))
	return false
}

func (p *parser) notExpr() node {
	start := p.i
	negations := 0
	// Each not nests one level deeper, as a parenthesis does: the tree
	// below is walked recursively.
	defer func() { p.depth -= negations }()
	for {
		if p.peek("not(") {
			p.i += 3
			negations++
			p.enter()
			continue
		}
		if p.peek("not") && p.i+3 < len(p.s) && policy.IsBlank(p.s[p.i+3]) {
			p.i += 3
			p.blanks()
			p.last = "not"
			negations++
			p.enter()
			continue
		}
		break
	}
	n := p.check()
	for range negations {
		n = &notNode{x: n, pos: start}
	}
	return n
}

func (p *parser) check() node {
	p.blanks()
	start := p.i
	if p.peek("(") {
		p.i++
		p.last = "("
		p.blanks()
		n := p.orExpr()
		p.blanks()
		if !p.peek(")") {
			p.fail("expected a ')' token")
		}
		p.i++
		p.last = ")"
		return n
	}
	if f := p.fieldOrTransformer(false); f != nil {
		return p.condition(f, start)
	}
	if id := p.identifier(); id != "" {
		return &identNode{name: id, pos: start}
	}
	p.fail("expected a '(' token, a field check, or an identifier")
	return nil
}

func (p *parser) identifier() string {
	n := policy.IdentifierLen(p.s, p.i)
	if n == 0 {
		return ""
	}
	id := p.s[p.i : p.i+n]
	p.i += n
	p.last = id
	return id
}

// fieldOrTransformer scans a field or a transformer applied to one (see
// policy.ScanField). On the right-hand side (rhs) a plain field is a
// string value, so only val(field) and transformers are taken there. It
// returns nil, consuming nothing, when the text there is neither.
func (p *parser) fieldOrTransformer(rhs bool) *policy.FieldSyntax {
	f, end, last, err := policy.ScanField(p.s, p.i, rhs)
	if err != nil {
		panic(err)
	}
	if f != nil {
		p.i, p.last = end, last
	}
	return f
}

// Operators in the order the lexer tries them: the first match wins.
var (
	numOps  = []string{"<=", "<", ">=", ">"}
	strOps  = []string{"==", "=", "!="}
	wordOps = []string{"glob", "iglob", "contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "regex"}
	listOps = []string{"intersects", "in", "pmatch"}
)

const opList = "'exists', '<=', '<', '>=', '>', '==', '=', '!=', 'glob', 'iglob', 'contains', 'icontains', 'bcontains', 'startswith', 'bstartswith', 'endswith', 'regex', 'intersects', 'in', 'pmatch'"

const transformerList = "'val', 'tolower', 'toupper', 'b64', 'basename', 'len'"

func (p *parser) condition(left *policy.FieldSyntax, start int) node {
	p.blanks()
	c := &checkNode{left: left, pos: start}
	if p.peek("exists") {
		p.i += len("exists")
		p.last = "exists"
		c.op = "exists"
		return c
	}
	for _, op := range numOps {
		if p.peek(op) {
			p.i += len(op)
			p.last = op
			c.op = op
			p.blanks()
			c.valuePos = p.i
			if r := p.fieldOrTransformer(true); r != nil {
				c.right = r
				return c
			}
			v, ok := p.number()
			if !ok {
				p.fail("expected a number value or a field with a valid transformer: " + transformerList)
			}
			c.values = []string{v}
			return c
		}
	}
	for _, op := range strOps {
		if p.peek(op) {
			p.i += len(op)
			return p.stringCondition(c, op, p.blanks() > 0)
		}
	}
	for _, op := range wordOps {
		if p.peek(op) && p.i+len(op) < len(p.s) && policy.IsBlank(p.s[p.i+len(op)]) {
			p.i += len(op)
			return p.stringCondition(c, op, p.blanks() > 0)
		}
	}
	for _, op := range listOps {
		if p.peek(op) {
			p.i += len(op)
			p.last = op
			c.op = op
			p.blanks()
			c.valuePos = p.i
			if r := p.fieldOrTransformer(true); r != nil {
				c.right = r
				return c
			}
			if !p.listValue(c) {
				p.fail("expected a list, an identifier, or a field with a valid transformer: " + transformerList)
			}
			return c
		}
	}
	p.fail("expected a valid check operator: one of " + opList)
	return nil
}

func (p *parser) stringCondition(c *checkNode, op string, blankAfter bool) node {
	p.last = op
	c.op = op
	c.valuePos = p.i
	if blankAfter {
		for _, m := range []string{"oneof", "anyof", "allof"} {
			if !p.peek(m) {
				continue
			}
			save := p.i
			p.i += len(m)
			if p.blanks() > 0 || p.peek("(") {
				next := policy.IdentifierLen(p.s, p.i)
				word := p.s[p.i : p.i+next]
				if p.peek("(") || (next > 0 && word != "and" && word != "or" && word != "not") {
					c.modifier = m
					c.valuePos = p.i
					if !p.listValue(c) {
						p.fail("expected a list or an identifier")
					}
					return c
				}
			}
			p.i = save
		}
	}
	if r := p.fieldOrTransformer(true); r != nil {
		c.right = r
		return c
	}
	v, ok := p.stringValue()
	if !ok {
		p.fail("expected a string value or a field with a valid transformer: " + transformerList)
	}
	c.values = []string{v}
	return c
}

// listValue parses "(a, b)" or a list identifier into c.
func (p *parser) listValue(c *checkNode) bool {
	if !p.peek("(") {
		if id := p.identifier(); id != "" {
			c.listName = id
			c.values = []string{id}
			c.list = true
			return true
		}
		return false
	}
	p.i++
	p.last = "("
	c.list = true
	c.values = []string{}
	p.blanks()
	if p.peek(")") {
		p.i++
		p.last = ")"
		return true
	}
	for {
		v, ok := p.stringValue()
		if !ok {
			p.fail("expected a string value")
		}
		c.values = append(c.values, v)
		p.blanks()
		if p.peek(",") {
			p.i++
			p.last = ","
			p.blanks()
			continue
		}
		if p.peek(")") {
			p.i++
			p.last = ")"
			return true
		}
		p.fail("expected a ')' token")
	}
}

func (p *parser) stringValue() (string, bool) {
	if s, ok := p.quoted(); ok {
		return s, true
	}
	j := p.i
	for j < len(p.s) && !policy.IsBlank(p.s[j]) && !strings.ContainsRune("()\"'=,", rune(p.s[j])) {
		j++
	}
	if j == p.i {
		return "", false
	}
	v := p.s[p.i:j]
	p.i = j
	p.last = v
	return v, true
}

// number lexes [+-]?[0-9]+[.]?[0-9]*([eE][+-][0-9]+)? or 0x[0-9a-f]+.
func (p *parser) number() (string, bool) {
	s, j := p.s, p.i
	if j+2 < len(s) && s[j] == '0' && (s[j+1] == 'x' || s[j+1] == 'X') && isHex(s[j+2]) {
		j += 2
		for j < len(s) && isHex(s[j]) {
			j++
		}
	} else {
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		d := j
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j == d {
			return "", false
		}
		if j < len(s) && s[j] == '.' {
			j++
			for j < len(s) && isDigit(s[j]) {
				j++
			}
		}
		if j+2 < len(s) && (s[j] == 'e' || s[j] == 'E') && (s[j+1] == '+' || s[j+1] == '-') && isDigit(s[j+2]) {
			j += 2
			for j < len(s) && isDigit(s[j]) {
				j++
			}
		}
	}
	v := s[p.i:j]
	p.i = j
	p.last = v
	return v, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// quoted lexes a single- or double-quoted string and unescapes it (see
// policy.ScanQuoted). An unterminated quote is not a string: ok is false
// and nothing is consumed.
func (p *parser) quoted() (string, bool) {
	v, end, ok, err := policy.ScanQuoted(p.s, p.i)
	if err != nil {
		panic(err)
	}
	if !ok {
		return "", false
	}
	p.last = p.s[p.i:end]
	p.i = end
	return v, true
}
