package trunkcount_test

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/palio-voip/palio/cluster/trunkcount"
	"github.com/palio-voip/palio/routing"
	"github.com/palio-voip/palio/sip"
	"github.com/palio-voip/palio/sip/siptest"
)

// BenchmarkStage measures a call through the routing stage to a capped
// trunk, answered at once, with this node's own counts (local) and with
// the counts shared through Redis (redis): one Reserve round trip per
// call, and the coalesced reports. Besides ns/op (wall time, calls in
// parallel), it reports the CPU time per call of this process
// (cpu-ns/call: the Router, go-redis) and of the Redis server
// (redis-cpu-ns/call, from INFO cpu).
//
//	PALIO_REDIS_URL=redis://127.0.0.1:6379/0 go test -run - -bench Stage -benchtime 20000x ./cluster/trunkcount
//
// Allocation budget: local 0 beyond the request's own; redis about 40
// (go-redis's command and reply).
func BenchmarkStage(b *testing.B) {
	data := routing.Data{
		Gateways: []routing.Gateway{{ID: 1, GWID: "pri", Address: "192.0.2.1", Channels: 1 << 30}},
		Carriers: []routing.Carrier{{ID: 1, CarrierID: "pstn", GWList: "pri", Channels: 1 << 30}},
		Rules:    []routing.Rule{{ID: 1, Groups: "0", GWList: "#pstn"}},
	}
	b.Run("local", func(b *testing.B) {
		r, err := routing.New(routing.Config{VolatileState: true}, routing.NewMemStore(data))
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		runStage(b, r, nil)
	})
	b.Run("redis", func(b *testing.B) {
		url := redisURL(b)
		c := newCounter(b, trunkcount.Config{URL: url, Cluster: testCluster(b, url), Node: "bench"})
		if err := c.Ping(context.Background()); err != nil {
			b.Fatal(err)
		}
		r, err := routing.New(routing.Config{VolatileState: true}, routing.NewMemStore(data), routing.WithChannelCounter(c))
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		o, _ := redis.ParseURL(url)
		rdb := redis.NewClient(o)
		defer rdb.Close()
		runStage(b, r, rdb)
	})
}

func runStage(b *testing.B, r *routing.Router, rdb *redis.Client) {
	stage := r.Wrap(answer{})
	reqs := make([]*sip.Request, 64)
	for i := range reqs {
		reqs[i] = siptest.NewRequest(sip.INVITE, "sip:0577"+strconv.Itoa(100000+i)+"@voip.unisi.it")
	}
	ctx := context.Background()
	redisBefore := redisCPU(b, rdb)
	cpuBefore := processCPU()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := 0
		for pb.Next() {
			n++
			rec := siptest.NewRecorder()
			if err := stage.ServeSIP(ctx, rec, reqs[n%len(reqs)]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	cpu := processCPU() - cpuBefore
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/call")
	if rdb != nil {
		b.ReportMetric(float64((redisCPU(b, rdb)-redisBefore).Nanoseconds())/float64(b.N), "redis-cpu-ns/call")
	}
}

// processCPU returns the CPU time (user and system) of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU returns the Redis server's CPU time (used_cpu_user +
// used_cpu_sys), 0 without rdb.
func redisCPU(b *testing.B, rdb *redis.Client) time.Duration {
	if rdb == nil {
		return 0
	}
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}
