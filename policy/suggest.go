package policy

// SuggestField returns the catalog field name nearest to name when name
// is a near miss of one: at most two edits away (a letter added, dropped
// or changed, or two neighbours swapped; one edit for names of four
// letters or fewer). Among the nearest it takes the one sharing the
// longest start with name (fd.nam is fd.name, not fd.num), then the first
// in catalog order. It returns "" when no field is that near.
func SuggestField(name string) string {
	limit := 2
	if len(name) <= 4 {
		limit = 1
	}
	best, bestDist, bestPrefix := "", limit+1, -1
	for _, f := range catalog {
		d := EditDistance(name, f.Name, bestDist+1)
		if d > bestDist {
			continue
		}
		if p := commonPrefix(name, f.Name); d < bestDist || p > bestPrefix {
			best, bestDist, bestPrefix = f.Name, d, p
		}
	}
	if bestDist > limit {
		return ""
	}
	return best
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// EditDistance is the optimal string alignment distance between a and b
// (Levenshtein's, with a swap of neighbours as one edit), or a number at
// least bound when it is bound or more.
func EditDistance(a, b string, bound int) int {
	if d := len(a) - len(b); d >= bound || -d >= bound {
		return bound
	}
	// Three rows of the dynamic programme: i-2, i-1, i.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= bound {
			return bound
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], bound)
}
