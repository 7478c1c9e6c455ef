package sip

import (
	rtmetrics "runtime/metrics"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Every message sipgo receives gets a goroutine of its own (its
// transaction layer starts one per request and per response), and a
// goroutine starts with the stack the Go runtime deems typical: the
// average it found in use at the last garbage collection, rounded up to
// a power of two (the runtime's adaptive starting stack, on by default).
// In a proxy most goroutines are parked shallow, so that average is 2 KB,
// and every message goroutine then grows its stack in sipgo's
// transaction code: 2 → 4 KB for each response and in context.WithTimeout
// before a request reaches Server.handle, which grows it again. Each
// growth copies the stack and adjusts every frame on it
// (runtime.copystack): 9 growths per call at 200 calls/s, 8 % of the
// router's CPU.
//
// Two things keep that down: stack holders, goroutines parked for the
// server's lifetime at a working depth, which lift the average so that
// goroutines start at 8 KB (sipgo's per-message code then never grows
// its stack); and growStack, which takes a request's goroutine to the
// 16 KB the pipeline needs in one step while it is still shallow. Three
// growths a call are left, one per request, each of a few frames, into
// a stack from the runtime's per-processor cache.

// defaultStackHolders is Config.StackHolders' default: 32 goroutines
// parked 12 KB deep lift the average to 8 KB as long as the process has
// fewer than about 130 other, shallow, goroutines (a UDP proxy has about
// 90; every TCP or TLS connection adds one or two, and with many the
// starting stack falls back, a cost, never an error).
const defaultStackHolders = 32

// holderDepth is the stack a holder parks at: its 16 KB stack is
// allocated once, from the runtime's per-processor cache.
const holderDepth = 12 << 10

// stackReserve is the stack a request's handling needs, about: the
// pipeline's stages wrap one another, and the Forwarder and sipgo's
// transaction layer go deeper still. 12 KB on top of the few frames
// below Server.handle make a 16 KB stack, which the UniSI pipeline with
// its services on fits (no growth past it at 200 calls/s, counted with
// a uprobe on runtime.morestack); 14 KB made it 32 KB, a stack the runtime
// takes from its heap and gives back at every request.
const stackReserve = 12 << 10

// stackPadIndex is 0; a variable, so that the compiler keeps the pad.
var stackPadIndex int

// growStack grows the stack of the goroutine sipgo started for a message
// to its working size in one step, while it is still shallow. Left to
// itself, the goroutine would grow 8 → 16 KB deep in the pipeline,
// copying every frame above it and adjusting their pointers; here it
// copies a few frames once.
//
//go:noinline
func growStack() byte {
	var pad [stackReserve]byte
	pad[stackPadIndex] = 1
	return pad[stackPadIndex]
}

// stackHolders are the goroutines that keep the runtime's starting stack
// at a message goroutine's working size (see above).
type stackHolders struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

// holdStacks parks n holders until release.
func holdStacks(n int) *stackHolders {
	h := &stackHolders{stop: make(chan struct{})}
	for range n {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			parkDeep(h.stop)
		}()
	}
	return h
}

// release ends the holders and waits for them, once (Server.Close); h
// is nil when the server never started.
func (h *stackHolders) release() {
	if h == nil {
		return
	}
	close(h.stop)
	h.wg.Wait()
}

// parkDeep blocks, holderDepth deep in its stack, until stop closes.
//
//go:noinline
func parkDeep(stop <-chan struct{}) byte {
	var pad [holderDepth]byte
	pad[stackPadIndex] = 1
	<-stop
	return pad[stackPadIndex]
}

// startingStack is the stack the runtime gives a new goroutine now, in
// bytes.
func startingStack() uint64 {
	s := []rtmetrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// newStartingStackGauge reports startingStack, so that an operator sees
// whether the holders do their job in a process with many goroutines.
func newStartingStackGauge() prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "palio_sip_goroutine_starting_stack_bytes",
		Help: "The stack the Go runtime gives a new goroutine, each received message's among them, as the last garbage collection set it (2048 until the first; Config.StackHolders keeps it at 8 KB where it can).",
	}, func() float64 { return float64(startingStack()) })
}
