package upstream

// pick chooses the target for the next attempt and claims it. Targets in
// tried are avoided while another target is usable; a request may go back to
// a tried target only when it is the last usable one. It returns nil when no
// target is usable. It does not allocate.
func (p *Pool) pick(now int64, tried []*target) (t *target, probe bool) {
	if t, probe = p.pickFrom(now, tried); t != nil || len(tried) == 0 {
		return t, probe
	}
	return p.pickFrom(now, nil)
}

func (p *Pool) pickFrom(now int64, skip []*target) (*target, bool) {
	if p.leastRequests {
		return p.pickLeast(now, skip)
	}
	return p.pickRoundRobin(now, skip)
}

func (p *Pool) pickRoundRobin(now int64, skip []*target) (*target, bool) {
	n := len(p.targets)
	start := int(p.next.Add(1) % uint64(n))
	for i := range n {
		idx := start + i
		if idx >= n {
			idx -= n
		}
		t := p.targets[idx]
		if contains(skip, t) {
			continue
		}
		if ok, probe := t.claim(now); ok {
			return t, probe
		}
	}
	return nil, false
}

// pickLeast chooses the usable target with the fewest in-flight requests; the
// scan starts at a rotating offset so that ties are broken round robin.
func (p *Pool) pickLeast(now int64, skip []*target) (*target, bool) {
	n := len(p.targets)
	start := int(p.next.Add(1) % uint64(n))
	// Each failed claim means another request just took that target's probe
	// slot, which makes it unusable for the next scan, so this terminates.
	for range n {
		var best *target
		var bestLoad int64
		for i := range n {
			idx := start + i
			if idx >= n {
				idx -= n
			}
			t := p.targets[idx]
			if contains(skip, t) || !t.usable(now) {
				continue
			}
			if load := t.inFlight.Load(); best == nil || load < bestLoad {
				best, bestLoad = t, load
			}
		}
		if best == nil {
			return nil, false
		}
		if ok, probe := best.claim(now); ok {
			return best, probe
		}
	}
	return nil, false
}

func contains(ts []*target, t *target) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}
