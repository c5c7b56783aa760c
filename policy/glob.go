package policy

import "unicode/utf8"

// Glob reports whether s matches the shell pattern pattern as fnmatch(3)
// does without FNM_PATHNAME and FNM_PERIOD: '*' matches any run of
// characters, '/' and leading dots included; '?' matches one character;
// '[...]' matches a set ('!' or '^' negates, '-' makes ranges); '\' quotes
// the next character. With fold, letters match regardless of case.
func Glob(pattern, s string, fold bool) bool {
	// Iterative matcher with one backtrack point for the last '*': linear
	// in practice and never exponential.
	px, sx := 0, 0
	starPx, starSx := -1, -1
	for sx < len(s) || px < len(pattern) {
		if px < len(pattern) {
			switch pattern[px] {
			case '*':
				for px < len(pattern) && pattern[px] == '*' {
					px++
				}
				starPx, starSx = px, sx
				continue
			case '?':
				if sx < len(s) {
					_, w := utf8.DecodeRuneInString(s[sx:])
					px++
					sx += w
					continue
				}
			case '[':
				if sx < len(s) {
					r, w := utf8.DecodeRuneInString(s[sx:])
					if ok, next, valid := matchClass(pattern, px, r, fold); valid {
						if ok {
							px = next
							sx += w
							continue
						}
					} else if s[sx] == '[' {
						// An unclosed '[' is an ordinary character.
						px++
						sx++
						continue
					}
				}
			default:
				pc := pattern[px]
				adv := 1
				if pc == '\\' && px+1 < len(pattern) {
					pc = pattern[px+1]
					adv = 2
				}
				if sx < len(s) && sameByte(pc, s[sx], fold) {
					px += adv
					sx++
					continue
				}
			}
		}
		if starPx >= 0 && starSx < len(s) {
			starSx++
			px, sx = starPx, starSx
			continue
		}
		return false
	}
	return true
}

func sameByte(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	return fold && lowerByte(a) == lowerByte(b)
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func lowerRune(r rune) rune {
	if r < utf8.RuneSelf {
		return rune(lowerByte(byte(r)))
	}
	return r
}

// matchClass matches r against the bracket expression starting at
// pattern[px] == '['. valid is false when the bracket is not closed.
func matchClass(pattern string, px int, r rune, fold bool) (ok bool, next int, valid bool) {
	i := px + 1
	negate := false
	if i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^') {
		negate = true
		i++
	}
	if fold {
		r = lowerRune(r)
	}
	first := true
	for i < len(pattern) {
		if pattern[i] == ']' && !first {
			return ok != negate, i + 1, true
		}
		first = false
		lo, w := classChar(pattern, i)
		i += w
		hi := lo
		if i+1 < len(pattern) && pattern[i] == '-' && pattern[i+1] != ']' {
			hi, w = classChar(pattern, i+1)
			i += 1 + w
		}
		if fold {
			lo, hi = lowerRune(lo), lowerRune(hi)
		}
		if lo <= r && r <= hi {
			ok = true
		}
	}
	return false, 0, false
}

func classChar(pattern string, i int) (rune, int) {
	if pattern[i] == '\\' && i+1 < len(pattern) {
		r, w := utf8.DecodeRuneInString(pattern[i+1:])
		return r, w + 1
	}
	return utf8.DecodeRuneInString(pattern[i:])
}

// HasGlobMeta reports whether s holds a character that globbing treats
// specially.
func HasGlobMeta(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// ContainsFold reports whether sub is within s, ignoring ASCII case, as
// Falco's icontains does. It allocates nothing.
func ContainsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			if lowerByte(s[i+j]) != lowerByte(sub[j]) {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}
