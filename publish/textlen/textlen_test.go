package textlen

import (
	"strings"
	"testing"
)

// Emoji used across the tables, spelled out so the invisible joiners are
// visible in review.
const (
	family     = "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466" // 👨‍👩‍👧‍👦 man ZWJ woman ZWJ girl ZWJ boy
	flagDE     = "\U0001F1E9\U0001F1EA"                                       // 🇩🇪 two regional indicators
	flagEngl   = "\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F"
	transFlag  = "\U0001F3F3\uFE0F\u200D\u26A7\uFE0F" // 🏳️‍⚧️
	keycapOne  = "1\uFE0F\u20E3"                      // 1️⃣
	keycapHash = "#\uFE0F\u20E3"                      // #️⃣
	eAcute     = "e\u0301"                            // e + COMBINING ACUTE ACCENT
	technolog  = "\U0001F9D1\u200D\U0001F4BB"         // 🧑‍💻 (Unicode 12.1)
	heartFire  = "\u2764\uFE0F\u200D\U0001F525"       // ❤️‍🔥 (Unicode 13.1)
	raisingMed = "\U0001F64B\U0001F3FD"               // 🙋🏽 skin tone
	singer     = "\U0001F468\u200D\U0001F3A4"         // 👨‍🎤
)

type lenCase struct {
	name string
	text string
	want int
	// src says where the expected value comes from.
	src string
}

func runLen(t *testing.T, f func(string) int, cases []lenCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := f(c.text); got != c.want {
				t.Errorf("got %d, want %d (source: %s)\ntext: %q", got, c.want, c.src, c.text)
			}
		})
	}
}

func TestGraphemes(t *testing.T) {
	runLen(t, Graphemes, []lenCase{
		{"empty", "", 0, "definition"},
		{"ascii", "hello", 5, "one cluster per ASCII letter (UAX #29 GB999)"},
		{"zwj family", family, 1, "UAX #29 GB11: emoji ZWJ sequences are one cluster"},
		{"flag", flagDE, 1, "UAX #29 GB12/GB13: a regional indicator pair is one cluster"},
		{"two flags", flagDE + flagDE, 2, "UAX #29 GB12/GB13 pair left to right"},
		{"subdivision flag", flagEngl, 1, "UAX #29 GB9: tag characters are Extend"},
		{"combining mark", eAcute, 1, "UAX #29 GB9: a combining mark extends its base"},
		{"keycap", keycapOne, 1, "UAX #29 GB9: U+FE0F and U+20E3 are Extend"},
		{"hangul jamo", "\u1100\u1161\u11A8", 1, "UAX #29 table 1b: L V T forms one syllable"},
		{"cjk", "日本語", 3, "one cluster per ideograph"},
		{"crlf", "a\r\nb", 3, "UAX #29 GB3: CR LF is one cluster"},
		{"300 families", strings.Repeat(family, 300), 300, "Bluesky counts graphemes (app.bsky.feed.post maxGraphemes 300)"},
	})
}

func TestChars(t *testing.T) {
	runLen(t, Chars, []lenCase{
		{"empty", "", 0, "definition"},
		{"ascii", "LinkedIn", 8, "one UTF-16 unit per ASCII character"},
		{"precomposed", "é", 1, "U+00E9 is in the BMP"},
		{"combining mark", eAcute, 2, "two BMP code points"},
		{"emoji", "😀", 2, "U+1F600 is a surrogate pair in UTF-16"},
		{"zwj family", family, 11, "four surrogate pairs and three ZWJ"},
		{"flag", flagDE, 4, "two surrogate pairs"},
		{"cjk", "日本語", 3, "BMP ideographs"},
		{"invalid utf-8", "a\xffb", 3, "a bad byte counts as one U+FFFD"},
	})
}

func TestMastodon(t *testing.T) {
	spec := "mastodon spec/validators/status_length_validator_spec.rb"
	runLen(t, Mastodon, []lenCase{
		{"empty", "", 0, "definition"},
		{"url counts 23", strings.Repeat("a", 476) + " http://" + strings.Repeat("b", 30) + ".com/example", 500,
			spec + " 'counts URLs as 23 characters flat': 476 + 1 + 23"},
		{"glued url counts in full", strings.Repeat("a", 476) + "http://" + strings.Repeat("b", 30) + ".com/example", 525,
			spec + " 'does not count non-autolinkable URLs as 23 characters flat'"},
		{"overlong url counts in full", "http://example.com/valid?" + strings.Repeat("#foo?", 1000), 5025,
			spec + " 'does not count overly long URLs as 23 characters flat' (twitter-text MAX_URL_LENGTH 4096)"},
		{"remote mention counts local part", strings.Repeat("a", 475) + " @alice@" + strings.Repeat("b", 30) + ".com", 482,
			spec + " 'counts only the front part of remote usernames': 475 + 1 + len(@alice)"},
		{"overlong mention domain counts in full", "@alice@" + strings.Repeat("b", 500) + ".com", 511,
			spec + " 'does count both parts of remote usernames for overly long domains' (Extractor::MAX_DOMAIN_LENGTH 253)"},
		{"multi-byte emoji", strings.Repeat("✨", 500), 500, spec + " 'counts multi byte emoji as single character'"},
		{"zwj sequence", strings.Repeat(transFlag, 500), 500, spec + " 'counts ZWJ sequence emoji as single character'"},
		{"https url", "read https://example.com/a/very/long/path/that/goes/on?and=on", 5 + 23,
			"StatusLengthValidator::URL_PLACEHOLDER is 23 characters"},
		{"url without scheme counts in full", "example.com", 11,
			"countable_text extracts URLs with extract_url_without_protocol: false"},
		{"url without tld counts in full", "http://localhost:3000", 21, "twitter-text's valid_domain needs a known top-level domain"},
		{"local mention", "@alice", 6, "a mention without domain is unchanged"},
		{"two mentions and a url", "hi @alice@example.com and @bob https://example.com/very/long/path ok", 3 + 6 + 5 + 4 + 1 + 23 + 3,
			"each remote mention becomes @user, the URL 23"},
		{"accented name is not a mention", "@noël@example.com", 17,
			"Extractor::END_MENTION_MATCH discards @no followed by a latin accent"},
		{"email is not a mention", "alice@example.com", 17, "MENTION_RE's look-behind refuses a word character before @"},
		{"mention inside url", "https://example.com/@alice@example.org", 23,
			"remove_overlapping_entities keeps the URL, which starts first"},
		{"cjk", "日本語", 3, "graphemes"},
		{"combining mark", eAcute, 1, "graphemes (each_grapheme_cluster)"},
		{"flag", flagDE, 1, "graphemes"},
		{"family", family, 1, "graphemes"},
	})
}

func TestX(t *testing.T) {
	v := "twitter-text conformance/validate.yml WeightedTweetsWithDiscountedEmojiCounterTest"
	xs := strings.Repeat("xxxxxxxxxx-", 25)
	poem := "故人西辞黄鹤楼，烟花三月下扬州。孤帆远影碧空尽，唯见长江天际流。朱雀桥边野草花，乌衣巷口夕阳斜。旧时王谢堂前燕，飞入寻常百姓家。朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。泪湿罗巾梦不成，夜深前殿按歌声。红颜未老恩先断，斜倚薰笼坐到明。独在异乡为异客，每逢佳节倍思亲。遥知兄弟登高处，遍插茱萸少一人。"
	kana := strings.Repeat("あいうえおかきくけこ", 12)
	runLen(t, X, []lenCase{
		{"empty", "", 0, "definition"},
		{"plain", "This is a test.", 15, "validate.yml lengths 'Count the number of characters'"},
		{"http url", "http://test.com", 23, "validate.yml lengths"},
		{"url without scheme", "test.com", 23, "validate.yml lengths 'Count a URL without protocol as 23 characters'"},
		{"multiple urls", "Test https://test.com test https://test.com test.com test", 86, "validate.yml lengths 'Count multiple URLs correctly'"},
		{"regular tweet with url", "Hi http://test.co", 26, v},
		{"long tweet", "285 chars-" + xs, 285, v + " 'Long tweet, overflow at char index 280'"},
		{"url in the middle", "285 chars- http://www.twitter.com/jack " + xs[:264], 299, v},
		{"url at the end", xs[:264] + " http://www.twitter.com/jack ", 289, v},
		{"10 urls", strings.Repeat("https://www.twitter.com/aloha ", 10), 240, v},
		{"160 cjk", poem, 320, v + " '160 CJK char'"},
		{"160 emoji", strings.Repeat("😷", 160), 320, v + " '160 emoji char'"},
		{"latin and cjk", "the" + poem, 323, v},
		{"normalised in the last char", "282 chars-" + xs[:264] + "xxxxxA\u0301x", 281, v + " (Á decomposed, NFC makes it one)"},
		{"nfc", "A\u0301B", 2, "validate.yml WeightedTweetsCounterTest ''Á' is normalized into 1 char'"},
		{"hebrew normalisation", "A\uFB2C", 4, "validate.yml WeightedTweetsCounterTest 'שּׁ is normalized into 3 chars'"},
		{"mixed emoji", "H🐱☺" + family, 7, v + " 'Count a mix of single byte single word, and double word unicode characters'"},
		{"bmp emoji", "😷👾😡🔥💩", 10, v},
		{"skin tone and zwj", raisingMed + singer, 4, v + " 'with skin tone modifiers'"},
		{"general punctuation", "This is a tweet with general punctuation characters: \u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200A\u200B ‐ ‑ ‒ – — ― ‖  ‗ ‘ ’ ‚ ‛ “ ” „ ‟ ′ ″ ‴ ‵ ‶ ‷", 110,
			v + " 'Handle General Punctuation Characters with visible spaces(u2000-200A), no ZWJ/ZWNJ'"},
		{"general punctuation with zwj", "This is a tweet with general punctuation characters: \u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200A\u200B\u200C\u200D ‐ ‑ ‒ – — ― ‖  ‗ ‘ ’ ‚ ‛ “ ” „ ‟ ′ ″ ‴ ‵ ‶ ‷", 112,
			"validate.yml WeightedTweetsCounterTest 'Handle General Punctuation Characters with visible spaces(u2000-200A)'"},
		{"long label", "Long url with invalid domain labels and a short url: https://" + strings.Repeat("somesuperlongurl", 10) + ".com/foo https://validurl.com",
			53 + 8 + 160 + 8 + 1 + 23, v + " 'Handle long url with invalid domain labels and short url' (shortened: a label over 63 bytes is no URL)"},
		{"64 char domain", "randomurlrandomurlrandomurlrandomurlrandomurlrandomurlrandomurls.com", 68, v + " 'Handle a 64 character domain without protocol'"},
		{"cjk domain over 63 punycode bytes", kana + " http://" + strings.Repeat("あいうえおかきくけこ", 5) + "あいう.com", 358, v},
		{"cjk domain within 63 punycode bytes", kana + " http://" + strings.Repeat("あいうえおかきくけこ", 5) + "あい.com", 264, v},
		{"140 families", strings.Repeat(family, 140), 280, v + " '140 family emoji'"},
		{"unicode 10 emoji", "Unicode 10.0 emoji: 🤪; 🧕; 🧕🏾; " + flagEngl, 34, v},
		{"unicode 9 emoji", "Unicode 9.0 emoji: 🤠; 💃; 💃🏾", 29, v},
		{"invalid characters", "ABC\u202A\uFFFFABC\uFFFE", 12, "validate.yml UnicodeDirectionalMarkerCounterTest 'Handle invalid characters'"},
		{"directional marks around url", "\u2066\u202Ahttp://foobar.پاکستان/\u202C\u2069", 31, "validate.yml UnicodeDirectionalMarkerCounterTest"},

		// The traps: keycaps start with a digit, which alone is text.
		{"keycap", keycapOne, 2, "a keycap sequence is one emoji (twemoji pattern [#*0-9]\\uFE0F?\\u20E3)"},
		{"keycap hash", keycapHash, 2, "keycap sequence"},
		{"keycap without fe0f", "1\u20E3", 2, "twemoji pattern makes U+FE0F optional"},
		{"digits", "2024", 4, "digits are text, weight 1 (U+0000–U+10FF)"},
		{"copyright", "©", 1, "U+00A9 alone is text in twitter-text, weight 1"},
		{"copyright emoji", "©\uFE0F", 2, "with U+FE0F it is the emoji ©️"},
		{"flag", flagDE, 2, "emoji sequence counts 2"},
		{"subdivision flag", flagEngl, 2, "tag sequence counts 2"},
		{"newer zwj", technolog + heartFire, 4, "each RGI ZWJ sequence counts 2"},
		{"cjk", "日本語", 6, "defaultWeight 200 outside the ranges"},
		{"combining mark", eAcute, 1, "NFC makes é one code point"},
		{"mention", "@user", 5, "mentions count as characters on X"},
		{"short cc domain", "foo.jp", 6, "twitter-text invalidShortDomain: a ccTLD domain without a path is no URL"},
		{"short cc domain with path", "foo.jp/x", 23, "twitter-text links it when a path follows"},
		{"t.co", "t.co", 23, "twitter-text validSpecialShortDomain"},
		{"email", "a@example.com", 13, "a domain after @ is not linked (valid_url_preceding_chars)"},
		{"other scheme", "ftp://example.com", 17, "only http and https are linked"},
		{"glued url", "abchttp://example.com", 21, "valid_url_preceding_chars refuses an ASCII letter"},
		{"path ends at cjk", "https://ja.wikipedia.org/wiki/日本", 23 + 4, "twitter-text's path characters are Latin and Cyrillic only"},
		{"63 char label", "https://" + strings.Repeat("a", 63) + ".com", 23, "a 63-byte label is valid"},
		{"64 char label", "https://" + strings.Repeat("a", 64) + ".com", 8 + 64 + 4, "a 64-byte label is not (DNS limit, twitter-text's IDNA step)"},
		{"no tld", "http://localhost:3000", 21, "validDomain needs a known top-level domain"},
		{"trailing period", "See example.com.", 4 + 23 + 1, "the period ends the sentence, not the URL"},
	})
}
