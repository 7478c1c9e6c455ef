package mediabox

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

// mailQueue bounds the notifications waiting for the mail server.
const mailQueue = 64

// mailer sends voicemail notifications, one at a time, off the call's
// goroutine: a slow or absent mail server delays mail, never a call.
type mailer struct {
	cfg  SMTPConfig
	log  *slog.Logger
	m    *metrics
	jobs chan mailJob
	wg   sync.WaitGroup
	once sync.Once
}

type mailJob struct {
	to  string
	msg []byte
}

func newMailer(cfg SMTPConfig, log *slog.Logger, m *metrics) *mailer {
	ml := &mailer{cfg: cfg, log: log, m: m}
	if cfg.Addr == "" {
		return ml
	}
	ml.jobs = make(chan mailJob, mailQueue)
	ml.wg.Add(1)
	go ml.run()
	return ml
}

func (ml *mailer) run() {
	defer ml.wg.Done()
	for j := range ml.jobs {
		if err := ml.deliver(j); err != nil {
			ml.m.mail.WithLabelValues("failed").Inc()
			ml.log.Warn("mediabox: voicemail e-mail not sent", "to", j.to, "error", err)
			continue
		}
		ml.m.mail.WithLabelValues("sent").Inc()
	}
}

// send queues the notification of m (its WAV attached) to box's address.
func (ml *mailer) send(box Mailbox, m Message, wav []byte) {
	if ml.jobs == nil {
		return
	}
	msg := composeMail(ml.cfg.From, box.Email, m, wav)
	select {
	case ml.jobs <- mailJob{to: box.Email, msg: msg}:
	default:
		ml.m.mail.WithLabelValues("dropped").Inc()
		ml.log.Warn("mediabox: voicemail e-mail dropped: queue full", "to", box.Email)
	}
}

// close sends what is queued and stops.
func (ml *mailer) close() {
	ml.once.Do(func() {
		if ml.jobs != nil {
			close(ml.jobs)
			ml.wg.Wait()
		}
	})
}

// deliver sends one message, bounded by the configured timeout.
func (ml *mailer) deliver(j mailJob) error {
	ctx, cancel := context.WithTimeout(context.Background(), ml.cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", ml.cfg.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	host, _, _ := net.SplitHostPort(ml.cfg.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		// Left plain: the example's relay is local. A site relaying over
		// the network points Addr at a local MTA that does TLS.
		ml.log.Debug("mediabox: smtp server offers STARTTLS; sending plain to the configured relay")
	}
	if err := c.Mail(ml.cfg.From); err != nil {
		return err
	}
	if err := c.Rcpt(j.to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(j.msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// composeMail builds the notification: a text part and the WAV.
func composeMail(from, to string, m Message, wav []byte) []byte {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	text, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}})
	fmt.Fprintf(text, "You have a new voice message in mailbox %s.\r\n\r\nFrom: %s\r\nReceived: %s\r\nLength: %s\r\n\r\nThe message is attached.\r\n",
		m.Mailbox, m.Caller, m.Time.Format(time.RFC1123Z), m.Duration.Round(time.Second))
	att, _ := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"audio/wav"},
		"Content-Transfer-Encoding": {"base64"},
		"Content-Disposition":       {fmt.Sprintf("attachment; filename=%q", m.File)},
	})
	enc := base64.StdEncoding.EncodeToString(wav)
	for len(enc) > 76 {
		att.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	att.Write([]byte(enc + "\r\n"))
	mw.Close()

	var msg bytes.Buffer
	hdr := func(k, v string) { msg.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from)
	hdr("To", to)
	hdr("Subject", "New voice message from "+sanitizeHeader(m.Caller)+" ("+m.Duration.Round(time.Second).String()+")")
	hdr("Date", m.Time.Format(time.RFC1123Z))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	msg.WriteString("\r\n")
	msg.Write(body.Bytes())
	return msg.Bytes()
}

// sanitizeHeader keeps a caller's name from breaking a mail header.
func sanitizeHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
