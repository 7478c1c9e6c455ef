package routing

// order returns the order in which to try the entries of list, as indexes
// into it, appended to buf: the list's own order, or for a weighted list a
// random order in which each entry's chance of coming next is its weight
// over the weights of the entries not yet placed (weighted random
// selection without replacement). Entries of weight 0 come after the
// others, in list order; when every weight is 0 the whole list is
// shuffled uniformly.
func (r *Router) order(list []entry, weighted bool, buf []int) []int {
	out := buf[:0]
	if !weighted || len(list) < 2 {
		for i := range list {
			out = append(out, i)
		}
		return out
	}
	sum := 0
	for i, e := range list {
		if e.weight > 0 {
			out = append(out, i)
			sum += e.weight
		}
	}
	k := len(out)
	for i, e := range list {
		if e.weight <= 0 {
			out = append(out, i)
		}
	}
	if k == 0 {
		// All weights 0: a uniform shuffle (Fisher-Yates).
		for j := len(out) - 1; j > 0; j-- {
			m := r.intn(j + 1)
			out[j], out[m] = out[m], out[j]
		}
		return out
	}
	for j := 0; j < k-1; j++ {
		x := r.intn(sum)
		m := j
		for acc := list[out[m]].weight; x >= acc; acc += list[out[m]].weight {
			m++
		}
		sum -= list[out[m]].weight
		// Place the pick at j; the one it displaces keeps its chance.
		out[j], out[m] = out[m], out[j]
	}
	return out
}
