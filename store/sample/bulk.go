package sample

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"mime"
	"strings"
	"time"

	"github.com/mailbag/mailbag/store/maildir"
)

// Bulk writes n varied messages into f, quickly, for tests and
// benchmarks: 1–20 KB each, about a third of them replies in threads
// several levels deep, dates spread over the two years before now, most
// read, some replied or flagged, the newest few unread. It skips fsync
// (the data can be generated again); the same seed and now give the same
// messages (the file names differ).
func Bulk(f *maildir.Folder, n int, seed int64, now time.Time) error {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d61696c626167))
	people := makePeople(rng, 300)
	corpus := makeCorpus(rng, 64*1024)
	type sent struct {
		id, refs, subject string
		from              int
	}
	recent := make([]sent, 0, 512)
	span := 2 * 365 * 24 * time.Hour
	var buf bytes.Buffer
	b := f.NewBatch().NoSync()
	for i := range n {
		buf.Reset()
		from := rng.IntN(len(people))
		date := now.Add(-span + time.Duration(float64(span)*float64(i+1)/float64(n+1)) - time.Duration(rng.IntN(600))*time.Second)
		date = date.In(zones[rng.IntN(len(zones))])
		id := fmt.Sprintf("%d.%d.%x@%s", seed, i, rng.Uint32(), people[from].domain)
		subject, irt, refs := "", "", ""
		if len(recent) > 0 && rng.IntN(3) == 0 {
			p := recent[rng.IntN(len(recent))]
			subject = p.subject
			if !strings.HasPrefix(subject, "Re: ") {
				subject = "Re: " + subject
			}
			irt = p.id
			refs = trimRefs(strings.TrimSpace(p.refs+" "+p.id), 10)
		} else {
			subject = makeSubject(rng)
		}
		fmt.Fprintf(&buf, "Return-Path: <%s>\n", people[from].addr)
		fmt.Fprintf(&buf, "Received: from mx%d.%s (mx.%s [192.0.2.%d])\n\tby mail.example.test with ESMTPS id %x\n\tfor <alice@example.test>; %s\n",
			rng.IntN(9), people[from].domain, people[from].domain, 1+rng.IntN(250), rng.Uint64(), date.Format(time.RFC1123Z))
		fmt.Fprintf(&buf, "Date: %s\n", date.Format(time.RFC1123Z))
		fmt.Fprintf(&buf, "From: %s\n", people[from].header())
		fmt.Fprintf(&buf, "To: Alice Example <alice@example.test>\n")
		if rng.IntN(4) == 0 {
			cc := people[rng.IntN(len(people))]
			fmt.Fprintf(&buf, "Cc: %s\n", cc.header())
		}
		fmt.Fprintf(&buf, "Subject: %s\n", encodeHeader(subject))
		fmt.Fprintf(&buf, "Message-ID: <%s>\n", id)
		if irt != "" {
			fmt.Fprintf(&buf, "In-Reply-To: <%s>\n", irt)
			buf.WriteString("References:")
			for _, r := range strings.Fields(refs) {
				fmt.Fprintf(&buf, "\n <%s>", r)
			}
			buf.WriteString("\n")
		}
		buf.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
		size := 1024 + rng.IntN(19*1024)
		for buf.Len() < size {
			off := rng.IntN(len(corpus) - 1024)
			buf.WriteString(corpus[off : off+min(1024, size-buf.Len()+1)])
		}
		buf.WriteString("\n")
		var flags maildir.Flags
		switch age := n - i; {
		case age <= n/50+1:
			// the newest: unread, in new/
		case rng.IntN(20) == 0:
			flags = "FS"
		case rng.IntN(5) == 0:
			flags = "RS"
		default:
			flags = "S"
		}
		if _, err := b.Add(bytes.NewReader(buf.Bytes()), flags); err != nil {
			b.Abort()
			return fmt.Errorf("sample: bulk: %w", err)
		}
		if b.Len() >= 1000 {
			if err := b.Commit(); err != nil {
				b.Abort()
				return fmt.Errorf("sample: bulk: %w", err)
			}
		}
		s := sent{id: id, refs: refs, subject: subject, from: from}
		if len(recent) < cap(recent) {
			recent = append(recent, s)
		} else {
			recent[rng.IntN(len(recent))] = s
		}
	}
	if err := b.Commit(); err != nil {
		b.Abort()
		return fmt.Errorf("sample: bulk: %w", err)
	}
	return nil
}

// trimRefs keeps the first and the last max-1 ids, as RFC 5322 §3.6.4
// allows and mail clients do.
func trimRefs(refs string, max int) string {
	ids := strings.Fields(refs)
	if len(ids) <= max {
		return refs
	}
	return strings.Join(append(ids[:1:1], ids[len(ids)-max+1:]...), " ")
}

var zones = []*time.Location{
	time.UTC,
	time.FixedZone("", 1*3600),
	time.FixedZone("", 2*3600),
	time.FixedZone("", -5*3600),
	time.FixedZone("", -8*3600),
	time.FixedZone("", 9*3600),
	time.FixedZone("", 5*3600+1800),
}

type person struct {
	name, addr, domain string
}

// header formats the person for a From/To field, RFC 2047-encoding
// non-ASCII names.
func (p person) header() string {
	if p.name == "" {
		return p.addr
	}
	name := p.name
	if isASCII(name) {
		if strings.ContainsAny(name, `.,"()<>@:;[]\`) {
			name = `"` + name + `"`
		}
	} else {
		name = mime.QEncoding.Encode("utf-8", name)
	}
	return name + " <" + p.addr + ">"
}

var firstNames = []string{"Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory",
	"Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "José", "Zoë", "Søren", "Łukasz",
	"Chloé", "Björn", "Ærin", "Yūko", "Hiroshi", "Анна", "Δημήτρης", "李"}
var lastNames = []string{"Smith", "Jones", "Müller", "García", "Dubois", "Nakamura", "O'Brien", "Kowalski",
	"Rossi", "Andersson", "Nguyen", "Petrov", "Silva", "Fischer", "Brown", "Ivanova", "Yamada", "van Dijk"}
var domains = []string{"example.com", "example.net", "example.org", "mail.example.test", "lists.example.org",
	"uni.example.edu", "corp.example.co.uk", "example.jp"}

func makePeople(rng *rand.Rand, n int) []person {
	out := make([]person, n)
	for i := range out {
		first := firstNames[rng.IntN(len(firstNames))]
		last := lastNames[rng.IntN(len(lastNames))]
		dom := domains[rng.IntN(len(domains))]
		local := fmt.Sprintf("%s.%d", strings.ToLower(asciiOnly(last)), i)
		p := person{name: first + " " + last, addr: local + "@" + dom, domain: dom}
		if rng.IntN(10) == 0 {
			p.name = ""
		}
		out[i] = p
	}
	return out
}

var words = strings.Fields(`the of and to in is that for it as was with be by on not he this are or his from at
which but have an they you were her she there been one all we their has would when if so no will more what up
out about who its into them can only other new some could time these two may then do first any my now such like
our over man me even most made after also did many before must through back years where much your way well down
should because each just those people how too little state good very make world still own see men work long get
here between both life being under never day same another know while last might us great old year off come since
against go came right used take three meeting budget release server patch review deadline draft invoice weekend
build test deploy merge branch kernel mailbox folder thread index cache latency coffee lunch agenda minutes`)

func makeCorpus(rng *rand.Rand, size int) string {
	var b strings.Builder
	col := 0
	for b.Len() < size {
		w := words[rng.IntN(len(words))]
		if col+len(w) > 72 {
			b.WriteByte('\n')
			col = 0
			if rng.IntN(6) == 0 {
				b.WriteByte('\n')
			}
		} else if col > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}

var subjectWords = []string{"Quarterly", "report", "Meeting", "notes", "Release", "plan", "Server", "outage",
	"Invoice", "#4711", "Lunch", "on", "Friday", "Build", "failure", "in", "CI", "Draft", "proposal", "Holiday",
	"photos", "Kernel", "patch", "review", "Budget", "2025", "Café", "Übersicht", "会議", "資料", "Résumé", "naïve",
	"question", "about", "the", "new", "mailbox", "index", "Agenda", "for", "tomorrow"}

func makeSubject(rng *rand.Rand) string {
	n := 2 + rng.IntN(6)
	ws := make([]string, n)
	for i := range ws {
		ws[i] = subjectWords[rng.IntN(len(subjectWords))]
	}
	return strings.Join(ws, " ")
}

// encodeHeader RFC 2047-encodes a header value that is not ASCII.
func encodeHeader(s string) string {
	if isASCII(s) {
		return s
	}
	return mime.BEncoding.Encode("utf-8", s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func asciiOnly(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 && r != '\'' && r != ' ' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "user"
	}
	return b.String()
}
