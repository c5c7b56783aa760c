package policy

// Fold flattens nested and/or and folds constants: a constant operand
// decides or drops out, an and or or left with one operand is that operand.
func Fold(x Expr) Expr {
	switch x := x.(type) {
	case *And:
		var out []Expr
		for _, s := range x.Exprs {
			s = Fold(s)
			if c, ok := s.(*Const); ok {
				if !c.Value {
					return c
				}
				continue
			}
			if a, ok := s.(*And); ok {
				out = append(out, a.Exprs...)
				continue
			}
			out = append(out, s)
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
		for _, s := range x.Exprs {
			s = Fold(s)
			if c, ok := s.(*Const); ok {
				if c.Value {
					return c
				}
				continue
			}
			if o, ok := s.(*Or); ok {
				out = append(out, o.Exprs...)
				continue
			}
			out = append(out, s)
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
