package mediabridge

import "testing"

func TestPoolPairs(t *testing.T) {
	tests := []struct {
		name         string
		min, max     int
		pairs, first int
	}{
		{"even range", 20000, 20009, 5, 20000},
		{"odd min", 20001, 20010, 4, 20002},
		{"odd max cut", 20000, 20004, 2, 20000},
		{"one port", 20000, 20000, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPortPool(tt.min, tt.max)
			if p.size() != tt.pairs {
				t.Fatalf("pairs = %d, want %d", p.size(), tt.pairs)
			}
			if tt.pairs == 0 {
				return
			}
			port, ok := p.get()
			if !ok || port != tt.first {
				t.Fatalf("first = %d, %v, want %d", port, ok, tt.first)
			}
			if port%2 != 0 || port+1 > tt.max {
				t.Fatalf("pair %d-%d outside %d-%d or odd", port, port+1, tt.min, tt.max)
			}
		})
	}
}

func TestPoolReleaseAll(t *testing.T) {
	p := newPortPool(20000, 20199) // 100 pairs
	held := map[int]bool{}
	for i := range 100000 {
		// Keep about half out, release in another order than taken.
		if len(held) < 50 || i%3 == 0 {
			port, ok := p.get()
			if !ok {
				t.Fatalf("step %d: exhausted with %d held", i, len(held))
			}
			if held[port] {
				t.Fatalf("step %d: port %d handed out twice", i, port)
			}
			held[port] = true
			continue
		}
		for port := range held {
			if !p.put(port) {
				t.Fatalf("put(%d) refused", port)
			}
			delete(held, port)
			break
		}
	}
	for port := range held {
		p.put(port)
	}
	if p.inUse() != 0 || p.free != p.size() {
		t.Fatalf("in use %d, free %d of %d: want the pool full", p.inUse(), p.free, p.size())
	}
	if p.put(20000) {
		t.Fatal("put of a port not out: accepted")
	}
	if p.put(20001) || p.put(19998) || p.put(20200) {
		t.Fatal("put of an odd or foreign port: accepted")
	}
}

func TestPoolExhausted(t *testing.T) {
	p := newPortPool(20000, 20003)
	p.get()
	p.get()
	if _, ok := p.get(); ok {
		t.Fatal("third pair of two: got one")
	}
}

func TestPoolFIFO(t *testing.T) {
	p := newPortPool(20000, 20005) // 3 pairs
	a, _ := p.get()
	p.put(a)
	if b, _ := p.get(); b == a {
		t.Fatalf("released pair %d handed out again before the others", a)
	}
}
