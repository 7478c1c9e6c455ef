// Command mediaload holds N calls to a media box at once, each hearing
// a continuous stream (a queue's music on hold), and measures what
// arrives: packets, the share sent late (a packet arriving more than
// -late after the 20 ms slot its predecessor set), the largest gap, and
// the CPU the box's process used (-pid), per call-minute.
//
//	go run ./bench/mediaload -box 127.0.0.1:5080 -user QUEUE_load -calls 100 -seconds 30 -pid $(pgrep palio-mediabox)
//
// SIP is written by hand over one UDP socket (INVITE with a PCMU offer,
// ACK, BYE), RTP read on one socket per call, so that the load generator
// stays light beside the box on a small machine.
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	box := flag.String("box", "127.0.0.1:5080", "the media box, host:port (UDP)")
	user := flag.String("user", "QUEUE_load", "the Request-URI user: a stream that never pauses (a queue without agents)")
	calls := flag.Int("calls", 50, "calls held at once")
	seconds := flag.Int("seconds", 30, "how long each call is measured, after all are up")
	late := flag.Duration("late", 10*time.Millisecond, "a packet later than its slot by more than this is late")
	pid := flag.Int("pid", 0, "the box's process, for its CPU time (0: not measured)")
	flag.Parse()
	raddr, err := net.ResolveUDPAddr("udp", *box)
	if err != nil {
		log.Fatal(err)
	}
	sipConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		log.Fatal(err)
	}
	defer sipConn.Close()
	lport := sipConn.LocalAddr().(*net.UDPAddr).Port

	var mu sync.Mutex
	waiting := map[string]chan string{} // Call-ID → responses
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := sipConn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			msg := string(buf[:n])
			id := header(msg, "Call-ID")
			mu.Lock()
			ch := waiting[id]
			mu.Unlock()
			if ch != nil {
				select {
				case ch <- msg:
				default:
				}
			}
		}
	}()

	type call struct {
		id, toTag, fromTag string
		rtp                *net.UDPConn
		packets, lateN     atomic.Int64
		peer               *net.UDPAddr // the box's RTP address, from its answer
		byeDone            atomic.Bool
		maxGap             atomic.Int64
		resp               chan string
	}
	measuring := atomic.Bool{}
	all := make([]*call, 0, *calls)
	var readers sync.WaitGroup
	send := func(s string) {
		if _, err := sipConn.WriteToUDP([]byte(s), raddr); err != nil {
			log.Fatal(err)
		}
	}
	for i := range *calls {
		c := &call{id: fmt.Sprintf("load-%d-%d@127.0.0.1", i, rand.Int64()), fromTag: strconv.FormatInt(rand.Int64(), 36), resp: make(chan string, 16)}
		c.rtp, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			log.Fatal(err)
		}
		mu.Lock()
		waiting[c.id] = c.resp
		mu.Unlock()
		rport := c.rtp.LocalAddr().(*net.UDPAddr).Port
		sdp := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n", rport)
		ruri := "sip:" + *user + "@" + *box
		inv := fmt.Sprintf("INVITE %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\nFrom: <sip:load@127.0.0.1>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:load@127.0.0.1:%d>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
			ruri, lport, c.fromTag, c.fromTag, ruri, c.id, lport, len(sdp), sdp)
		send(inv)
		deadline := time.After(10 * time.Second)
	wait:
		for {
			select {
			case msg := <-c.resp:
				code := statusCode(msg)
				if code >= 200 && code < 300 {
					c.peer = sdpPeer(msg)
					to := header(msg, "To")
					_, tag, _ := strings.Cut(to, "tag=")
					c.toTag, _, _ = strings.Cut(tag, ";")
					break wait
				}
				if code >= 300 {
					log.Fatalf("call %d: %d", i, code)
				}
			case <-deadline:
				log.Fatalf("call %d: no answer", i)
			}
		}
		send(fmt.Sprintf("ACK %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKa%s;rport\r\nFrom: <sip:load@127.0.0.1>;tag=%s\r\nTo: <%s>;tag=%s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			ruri, lport, c.fromTag, c.fromTag, ruri, c.toTag, c.id))
		readers.Add(1)
		go func() {
			defer readers.Done()
			buf := make([]byte, 2048)
			var last time.Time
			for {
				if _, err := c.rtp.Read(buf); err != nil {
					return
				}
				now := time.Now()
				if measuring.Load() {
					if !last.IsZero() {
						gap := now.Sub(last)
						if gap > 20*time.Millisecond+*late {
							c.lateN.Add(1)
						}
						if g := int64(gap); g > c.maxGap.Load() {
							c.maxGap.Store(g)
						}
					}
					c.packets.Add(1)
				}
				last = now
			}
		}()
		all = append(all, c)
	}
	// Every call sends RTP as a phone does (PCMU silence, 20 ms), all from
	// one goroutine: the box reads 50 packets a second per call too.
	stopSending := make(chan struct{})
	var sender sync.WaitGroup
	sender.Add(1)
	go func() {
		defer sender.Done()
		pkt := make([]byte, 172)
		pkt[0], pkt[1] = 0x80, 0
		for i := 12; i < len(pkt); i++ {
			pkt[i] = 0xff
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(0); ; seq++ {
			select {
			case <-stopSending:
				return
			case <-tick.C:
			}
			for i, c := range all {
				if c.peer == nil {
					continue
				}
				pkt[2], pkt[3] = byte(seq>>8), byte(seq)
				ts := uint32(seq) * 160
				pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
				pkt[8], pkt[9], pkt[10], pkt[11] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
				c.rtp.WriteToUDP(pkt, c.peer)
			}
		}
	}()
	time.Sleep(2 * time.Second) // every call past its hold message
	cpu0 := cpuTime(*pid)
	start := time.Now()
	measuring.Store(true)
	time.Sleep(time.Duration(*seconds) * time.Second)
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu := cpuTime(*pid) - cpu0
	close(stopSending)
	sender.Wait()
	// BYEs paced and retransmitted (UDP): a call left up would be counted
	// in the next run.
	for try := 0; try < 5; try++ {
		left := 0
		for _, c := range all {
			if c.byeDone.Load() {
				continue
			}
			left++
			send(fmt.Sprintf("BYE sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKb%s;rport\r\nFrom: <sip:load@127.0.0.1>;tag=%s\r\nTo: <sip:%s@%s>;tag=%s\r\nCall-ID: %s\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
				*user, *box, lport, c.fromTag, c.fromTag, *user, *box, c.toTag, c.id))
			time.Sleep(time.Millisecond)
		}
		if left == 0 {
			break
		}
		time.Sleep(time.Second)
		for _, c := range all {
		drain:
			for {
				select {
				case msg := <-c.resp:
					if strings.Contains(header(msg, "CSeq"), "BYE") && statusCode(msg) >= 200 {
						c.byeDone.Store(true)
					}
				default:
					break drain
				}
			}
		}
	}
	for _, c := range all {
		c.rtp.Close()
	}
	readers.Wait()
	var packets, lateN int64
	var gaps []time.Duration
	for _, c := range all {
		packets += c.packets.Load()
		lateN += c.lateN.Load()
		gaps = append(gaps, time.Duration(c.maxGap.Load()))
	}
	slices.Sort(gaps)
	expected := int64(float64(*calls) * elapsed.Seconds() * 50)
	fmt.Printf("calls=%d seconds=%.1f packets=%d expected=%d late=%d late_share=%.3f%% max_gap_median=%s max_gap_worst=%s",
		*calls, elapsed.Seconds(), packets, expected, lateN, 100*float64(lateN)/float64(max(packets, 1)),
		gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond))
	if *pid > 0 {
		callMinutes := float64(*calls) * elapsed.Minutes()
		fmt.Printf(" box_cpu_s=%.2f cpu_share=%.1f%% cpu_s_per_call_minute=%.3f", cpu.Seconds(), 100*cpu.Seconds()/elapsed.Seconds(), cpu.Seconds()/callMinutes)
	}
	fmt.Println()
}

// header returns a header's value in a SIP message.
func header(msg, name string) string {
	for _, line := range strings.Split(msg, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func statusCode(msg string) int {
	if !strings.HasPrefix(msg, "SIP/2.0 ") {
		return 0
	}
	code, _ := strconv.Atoi(msg[8:11])
	return code
}

// cpuTime is a process's user+system CPU time (0 when pid is 0).
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		log.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// sdpPeer is the RTP address of an SDP answer in a SIP message.
func sdpPeer(msg string) *net.UDPAddr {
	var ip net.IP
	var port int
	for _, line := range strings.Split(msg, "\r\n") {
		if v, ok := strings.CutPrefix(line, "c=IN IP4 "); ok {
			ip = net.ParseIP(strings.TrimSpace(v))
		}
		if v, ok := strings.CutPrefix(line, "m=audio "); ok {
			port, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	if ip == nil || port == 0 {
		return nil
	}
	return &net.UDPAddr{IP: ip, Port: port}
}
