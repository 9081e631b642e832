package message

import (
	"strconv"
	"strings"

	"golang.org/x/net/html"
)

// htmlToText renders HTML as plain text for the reader, in process and
// without loading anything: paragraphs, line breaks, headings, lists
// (bullets and numbers), blockquotes ("> " prefix) and preformatted text are
// kept; links become "text [url]"; images their alt text; script, style,
// head and the like are dropped; entities are decoded and white space
// collapsed. The output is at most max bytes; truncated reports a cut.
func htmlToText(src string, max int) (text string, truncated bool) {
	c := htmlConv{max: max}
	z := html.NewTokenizer(strings.NewReader(src))
	z.SetMaxBuf(max + 1024)
	for !c.full {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return c.finish(), c.full
		case html.TextToken:
			if c.skip == 0 {
				c.text(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			var attrs map[string]string
			if hasAttr {
				attrs = map[string]string{}
				for n := 0; n < 64; n++ {
					k, v, more := z.TagAttr()
					if _, ok := attrs[string(k)]; !ok {
						attrs[string(k)] = string(v)
					}
					if !more {
						break
					}
				}
			}
			c.start(string(name), attrs, tt == html.SelfClosingTagToken)
		case html.EndTagToken:
			name, _ := z.TagName()
			c.end(string(name))
		}
	}
	return c.finish(), true
}

type htmlList struct {
	ordered bool
	n       int
}

type linkStart struct {
	href string
	pos  int
}

type htmlConv struct {
	b       strings.Builder
	max     int
	full    bool
	skip    int // inside script/style/head…
	pre     int
	quote   int
	lists   []htmlList
	links   []linkStart
	nl      int  // trailing newlines written
	started bool // anything written at all
	space   bool // a collapsed space is pending
	lineBeg bool // at the start of a line: prefix pending
}

func (c *htmlConv) write(s string) {
	if c.full {
		return
	}
	if c.b.Len()+len(s) > c.max {
		c.full = true
		return
	}
	c.b.WriteString(s)
}

// prefix writes the quote and list indentation at the start of a line.
func (c *htmlConv) prefix() {
	if !c.lineBeg {
		return
	}
	c.lineBeg = false
	if c.quote > 0 {
		c.write(strings.Repeat(">", min(c.quote, 20)) + " ")
	}
	if len(c.lists) > 1 {
		c.write(strings.Repeat("  ", min(len(c.lists)-1, 20)))
	}
}

// newline ends the line and makes sure at least n line breaks end the
// output so far (2 = a blank line).
func (c *htmlConv) newline(n int) {
	c.space = false
	if !c.started {
		return
	}
	for c.nl < n {
		c.write("\n")
		c.nl++
	}
	c.lineBeg = true
}

func (c *htmlConv) text(s string) {
	if c.pre > 0 {
		for i, line := range strings.Split(s, "\n") {
			if i > 0 {
				c.write("\n")
				c.nl++
				c.lineBeg = true
			}
			if line != "" {
				c.prefix()
				c.write(strings.ReplaceAll(line, "\r", ""))
				c.nl, c.started = 0, true
			}
		}
		return
	}
	// Word by word, collapsing white space (HTML 4.01 §9.1).
	i := 0
	for i < len(s) {
		if isHTMLSpace(rune(s[i])) {
			c.space = true
			i++
			continue
		}
		j := i
		for j < len(s) && !isHTMLSpace(rune(s[j])) {
			j++
		}
		if c.lineBeg {
			c.prefix()
		} else if c.space && c.started && c.nl == 0 {
			c.write(" ")
		}
		c.space = false
		c.write(s[i:j])
		c.nl, c.started = 0, true
		i = j
	}
}

func isHTMLSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f'
}

func (c *htmlConv) start(name string, attrs map[string]string, selfClosing bool) {
	switch name {
	case "script", "style", "head", "title", "template", "svg", "math", "object", "iframe", "noembed", "frameset":
		if !selfClosing {
			c.skip++
		}
		return
	}
	if c.skip > 0 {
		return
	}
	switch name {
	case "br":
		c.write("\n")
		c.nl++
		c.started = true
		c.lineBeg = true
		c.space = false
	case "p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "dl", "address", "figure", "fieldset", "center":
		c.newline(2)
	case "div", "tr", "section", "article", "header", "footer", "nav", "aside", "main", "dt", "dd", "form", "caption", "details", "summary":
		c.newline(1)
	case "hr":
		c.newline(1)
		c.prefix()
		c.write("----")
		c.started, c.nl = true, 0
		c.newline(1)
	case "pre":
		c.newline(2)
		c.pre++
	case "blockquote":
		c.newline(2)
		c.quote++
	case "ul", "ol", "menu":
		if len(c.lists) == 0 {
			c.newline(2)
		} else {
			c.newline(1)
		}
		if len(c.lists) < 100 {
			c.lists = append(c.lists, htmlList{ordered: name == "ol"})
		}
	case "li":
		c.newline(1)
		c.prefix()
		if len(c.lists) > 0 && c.lists[len(c.lists)-1].ordered {
			l := &c.lists[len(c.lists)-1]
			l.n++
			c.write(strconv.Itoa(l.n) + ". ")
		} else {
			c.write("• ")
		}
		c.started, c.nl, c.space = true, 0, false
	case "td", "th":
		if !c.lineBeg && c.started && c.nl == 0 {
			c.write("  ")
			c.space = false
		}
	case "a":
		if href := strings.TrimSpace(attrs["href"]); href != "" && len(c.links) < 100 {
			c.links = append(c.links, linkStart{href: href, pos: c.b.Len()})
		} else if len(c.links) < 100 {
			c.links = append(c.links, linkStart{pos: -1})
		}
	case "img":
		if alt := strings.TrimSpace(attrs["alt"]); alt != "" {
			c.text("[" + alt + "]")
		}
	}
}

func (c *htmlConv) end(name string) {
	switch name {
	case "script", "style", "head", "title", "template", "svg", "math", "object", "iframe", "noembed", "frameset":
		if c.skip > 0 {
			c.skip--
		}
		return
	}
	if c.skip > 0 {
		return
	}
	switch name {
	case "p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "dl", "address", "figure", "fieldset", "center":
		c.newline(2)
	case "div", "tr", "section", "article", "header", "footer", "nav", "aside", "main", "dt", "dd", "form", "caption", "details", "summary", "li":
		c.newline(1)
	case "pre":
		if c.pre > 0 {
			c.pre--
		}
		c.newline(2)
	case "blockquote":
		c.newline(2)
		if c.quote > 0 {
			c.quote--
		}
	case "ul", "ol", "menu":
		if len(c.lists) > 0 {
			c.lists = c.lists[:len(c.lists)-1]
		}
		c.newline(1)
		if len(c.lists) == 0 {
			c.newline(2)
		}
	case "a":
		if len(c.links) == 0 {
			return
		}
		l := c.links[len(c.links)-1]
		c.links = c.links[:len(c.links)-1]
		if l.pos < 0 || l.pos > c.b.Len() {
			return
		}
		href := l.href
		low := strings.ToLower(href)
		if strings.HasPrefix(low, "javascript:") || strings.HasPrefix(low, "#") || strings.HasPrefix(low, "data:") {
			return
		}
		label := strings.TrimSpace(c.b.String()[l.pos:])
		if label == href || "mailto:"+label == href || strings.TrimSuffix(href, "/") == strings.TrimSuffix(label, "/") {
			return
		}
		if label == "" {
			c.text(href)
			return
		}
		c.text(" [" + href + "]")
	}
}

func (c *htmlConv) finish() string {
	s := c.b.String()
	// Drop trailing white space on each line and at the end.
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}
