package policy

// Fold flattens nested and/or and folds constants: a constant operand
// decides or drops out, an and or or left with one operand is that operand.
func Fold(x Expr) Expr {
	switch x := x.(type) {
	case *And:
		var out []Expr
		if foldAnd(x, &out) {
			return &Const{Value: false}
		}
		switch len(out) {
		case 0:
			return &Const{Value: true}
		case 1:
			return out[0]
		}
		return &And{Exprs: out}
	case *Or:
		var out []Expr
		if foldOr(x, &out) {
			return &Const{Value: true}
		}
		switch len(out) {
		case 0:
			return &Const{Value: false}
		case 1:
			return out[0]
		}
		return &Or{Exprs: out}
	case *Not:
		if c, ok := x.X.(*Const); ok {
			return &Const{Value: !c.Value}
		}
	}
	return x
}

// foldAnd appends the folded operands of x to out, those of nested ands
// in place: flattening each level into the one above would copy the
// operands of a deep tree once per level. It reports whether an operand
// is false.
func foldAnd(x *And, out *[]Expr) bool {
	for _, s := range x.Exprs {
		if a, ok := s.(*And); ok {
			if foldAnd(a, out) {
				return true
			}
			continue
		}
		s = Fold(s)
		if c, ok := s.(*Const); ok {
			if !c.Value {
				return true
			}
			continue
		}
		if a, ok := s.(*And); ok { // an or of one and
			*out = append(*out, a.Exprs...)
			continue
		}
		*out = append(*out, s)
	}
	return false
}

// foldOr is foldAnd for or: it reports whether an operand is true.
func foldOr(x *Or, out *[]Expr) bool {
	for _, s := range x.Exprs {
		if o, ok := s.(*Or); ok {
			if foldOr(o, out) {
				return true
			}
			continue
		}
		s = Fold(s)
		if c, ok := s.(*Const); ok {
			if c.Value {
				return true
			}
			continue
		}
		if o, ok := s.(*Or); ok { // an and of one or
			*out = append(*out, o.Exprs...)
			continue
		}
		*out = append(*out, s)
	}
	return false
}
