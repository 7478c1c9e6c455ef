// Command flood sends initial INVITEs without credentials from several
// loopback source addresses at a fixed rate and never ACKs what comes
// back: the reflection and state-exhaustion attack of issue 12. It counts
// what the target sends back (datagrams and bytes, by status code) until a
// drain period after the last INVITE, so that a target that retransmits
// its rejections for Timer H (32 s) shows it.
//
//	go run ./bench/flood -target 127.0.0.1:5060 -rate 5000 -seconds 10 -sources 8 -drain 35s
//
// It prints one line: invites=N bytes_sent=N responses=N bytes_received=N
// responses_per_invite=X amplification=X codes=407:N,...
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	target := flag.String("target", "127.0.0.1:5060", "the proxy, host:port (loopback only)")
	rate := flag.Int("rate", 5000, "INVITEs per second, all sources together")
	seconds := flag.Int("seconds", 10, "how long to send")
	sources := flag.Int("sources", 8, "source addresses 127.0.0.2 and up")
	drain := flag.Duration("drain", 35*time.Second, "how long to keep counting responses after the last INVITE")
	number := flag.String("number", "0577123456", "the number called")
	flag.Parse()
	raddr, err := net.ResolveUDPAddr("udp", *target)
	if err != nil || !raddr.IP.IsLoopback() {
		log.Fatalf("flood: target %q: want a loopback host:port", *target)
	}
	if *sources < 1 || *sources > 200 || *rate < 1 || *seconds < 1 {
		log.Fatal("flood: want 1..200 sources and a positive rate and duration")
	}

	var invites, sent, responses, received atomic.Int64
	var mu sync.Mutex
	codes := map[string]int{}
	conns := make([]*net.UDPConn, *sources)
	var readers sync.WaitGroup
	for i := range conns {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))})
		if err != nil {
			log.Fatalf("flood: bind 127.0.0.%d: %v", 2+i, err)
		}
		_ = c.SetReadBuffer(4 << 20)
		conns[i] = c
		readers.Add(1)
		go func() {
			defer readers.Done()
			buf := make([]byte, 65535)
			for {
				n, _, err := c.ReadFromUDP(buf)
				if err != nil {
					return
				}
				responses.Add(1)
				received.Add(int64(n))
				code := "?"
				if f := strings.Fields(string(buf[:min(n, 16)])); len(f) >= 2 {
					code = f[1]
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}

	total := *rate * *seconds
	start := time.Now()
	for i := 0; i < total; i++ {
		// Pace in steps of 1 ms.
		if due := start.Add(time.Duration(i) * time.Second / time.Duration(*rate)); time.Until(due) > time.Millisecond {
			time.Sleep(time.Until(due))
		}
		c := conns[i%len(conns)]
		msg := invite(c.LocalAddr().String(), *target, *number, i)
		if n, err := c.WriteToUDP(msg, raddr); err == nil {
			invites.Add(1)
			sent.Add(int64(n))
		}
	}
	time.Sleep(*drain)
	for _, c := range conns {
		c.Close()
	}
	readers.Wait()

	var parts []string
	for code, n := range codes {
		parts = append(parts, fmt.Sprintf("%s:%d", code, n))
	}
	sort.Strings(parts)
	inv := float64(invites.Load())
	fmt.Printf("invites=%d bytes_sent=%d responses=%d bytes_received=%d responses_per_invite=%.2f amplification=%.2f codes=%s\n",
		invites.Load(), sent.Load(), responses.Load(), received.Load(),
		float64(responses.Load())/inv, float64(received.Load())/float64(max(sent.Load(), 1)), strings.Join(parts, ","))
	os.Exit(0)
}

// invite is an initial INVITE without credentials, unique per i.
func invite(from, target, number string, i int) []byte {
	return []byte(fmt.Sprintf("INVITE sip:%s@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-flood-%d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:flood@%s>;tag=f%d\r\n"+
		"To: <sip:%s@%s>\r\n"+
		"Call-ID: flood-%d@%s\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:flood@%s>\r\n"+
		"Content-Length: 0\r\n\r\n", number, target, from, i, from, i, number, target, i, from, from))
}
