// Package enum looks telephone numbers up in ENUM (RFC 6116): the DNS tree
// that maps an E.164 number to URIs through NAPTR records (RFC 3403),
// interpreted by the DDDS algorithm (RFC 3402). It gives a Palio pipeline
// the two things OpenSIPS's enum module gives a routing script: routing a
// call to the SIP URI a number has in ENUM (enum_query), and checking a
// caller against ENUM (is_from_user_enum).
//
// In the UniSI pipeline the Query stage comes early: a call to a number
// that ENUM knows goes over the Internet; every other call goes on,
// unchanged, to the dialplan and the PSTN routing.
//
//	r, err := enum.New(enum.Config{
//		Servers:   []string{"10.0.0.53:53"},
//		Numbering: enum.Numbering{CountryCode: "39", NationalPrefix: "0", InternationalPrefix: "00", KeepNationalPrefix: true},
//	}, enum.WithLogger(log), enum.WithRegisterer(reg))
//	pipeline := sip.Chain(permissions, r.Query(enum.QueryConfig{}), aliases, dialplan, routing)(fwd)
//
// # Numbers
//
// ENUM knows numbers in international form. Numbering.Normalize turns a
// number as dialled into that form by a national numbering plan: the
// international prefix (00) becomes "+"; a national number (0577 232111)
// gets the country code, keeping its trunk prefix where the country does
// so (Italy: +39 0577 232111) or dropping it, as most countries do
// (+44 20 7946 0000 for 020 7946 0000). A number is E.164 as OpenSIPS's
// is_e164 says: "+" and 2 to 15 digits. Extensions and short codes are
// not, and ENUM is never asked about them.
//
// # Lookups
//
// Resolver.Lookup queries the NAPTR records of the number's domain (its
// digits reversed under Config.Suffix, e164.arpa. by default), keeps the
// terminal records (flag "u") of the configured ENUMservice (E2U+sip, and
// the older sip+E2U), sorts them by order then preference, and applies
// each one's regexp to the number. The regexp field arrives in DNS
// presentation form (a backslash reads \\); the escapes are undone, the
// "!pattern!replacement!flags" expression is split on its delimiter, \1..\9
// in the replacement become back-references, and malformed expressions are
// skipped with a reason in the debug log. Non-terminal records (empty
// flags) are followed to the domain they name, up to Config.MaxDepth deep.
//
// Servers are asked in order over UDP, and again over TCP when an answer
// comes back truncated. Config.Timeout bounds a whole lookup, whatever the
// number of servers, retries and records followed: a call never waits
// longer than that for ENUM. Answers are cached for their TTL, and so are
// negative answers (NXDOMAIN, NODATA, nothing usable) for the SOA minimum
// (RFC 2308), in a bounded cache split in shards so that a hit takes no
// global lock; a hit costs one small allocation (none for a negative one).
//
// Errors say what happened: ErrNotFound when the number has no usable
// record, an error wrapping context.DeadlineExceeded when time ran out,
// anything else when the servers failed. Only answers are cached.
//
// # Stages
//
// Resolver.Query is enum_query. It rewrites the Request-URI to the first
// URI and makes it the only target (sip.WithTargets). The other URIs are
// serial alternatives: when an attempt ends in 408 or 5xx (a 503 includes
// an unreachable host) and the caller is still waiting, the stage tries
// the next URI with a fresh clone of the request. A 2xx, a 4xx such as
// 486 Busy, a 6xx or the caller's CANCEL end the call there. Calls to
// numbers ENUM does not know, or whose lookup failed, go on unchanged;
// QueryConfig.NotFound rejects them instead. QueryConfig.Found sends ENUM
// routed calls to another handler (the Forwarder), past the stages meant
// for PSTN numbers. Each attempt carries a Decision (DecisionFrom): the
// number, the results, the one in use, whether the cache answered. The
// route -from explain command reads it.
//
// Resolver.FromUser is is_from_user_enum in two variants, and
// Resolver.CheckCaller does the same check on its own. The loose variant
// (strict false) passes when the From user's number exists in ENUM. The
// strict variant, which is OpenSIPS's behaviour, passes only when the
// host of one of the number's SIP URIs resolves to the address the request
// came from. That host is an IP address, or a name whose A records (AAAA
// for an IPv6 source) are looked up through the same servers and cached.
// The stage records the verdict (CallerFrom, Caller.Trusted) and always
// passes the request on. Refusing or trusting the caller is left to the
// stages after it.
//
// # Differences from OpenSIPS
//
// These are deliberate. The README has them as a table.
//
//   - Numbers are normalised by the numbering plan before the lookup.
//     OpenSIPS wants E.164 already in the R-URI or From user and returns
//     -1 otherwise.
//   - Non-terminal records are followed. OpenSIPS ignores every record
//     whose flags are not "u".
//   - A record matches the service when one of its enumservices equals
//     Config.Service (RFC 3761 syntax: "E2U+voice:tel+sip" offers sip).
//     OpenSIPS compares the whole field with "e2u+sip"/"sip+e2u", or
//     with "e2u+X:sip" for a service argument X.
//   - Alternatives are tried one after another, in (order, preference)
//     order, on 408/5xx only. OpenSIPS appends them as branches with q
//     values 0.99, 0.98, …, which t_relay forks in parallel unless the
//     script serialises them. tel_uri_params is not supported.
//     i_enum_query and isn_query are not provided.
//   - As in OpenSIPS, all matching records are alternatives: RFC 3403's
//     rule that a matching record hides those of higher order is not
//     applied. A URI listed twice is tried once.
//   - Patterns are compiled by Go's regexp (RE2) with leftmost-longest
//     matching, not by POSIX regcomp. Back-references inside a pattern
//     are refused; Perl classes such as \d are accepted. As in OpenSIPS,
//     the output is the replacement alone, with its back-references
//     filled in.
//   - The strict caller check passes when any address of the host, in the
//     source's family, is the source address. OpenSIPS takes the first
//     address sip_resolvehost returns, which goes through NAPTR/SRV.
//     Palio does no SRV lookup for the host. A host reachable only
//     through SRV records never matches; an IP address in the URI does.
//   - Answers are cached by TTL, negative ones included. OpenSIPS relies
//     on the resolver of the host or on its DNS cache module. The timeout
//     is a budget per lookup, not the resolver's global retry settings.
//   - When the number is not in ENUM, the call goes on unchanged unless
//     QueryConfig.NotFound says otherwise. In OpenSIPS that is enum_query
//     returning -1 and the script carrying on.
//
// # Files
//
// None: the package reads no file. Config.Servers names the DNS servers;
// a program that wants the system's reads /etc/resolv.conf itself, as
// the example server does.
package enum
