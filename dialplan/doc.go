// Package dialplan translates and classifies dialled numbers with
// OpenSIPS's dialplan rules: the dp_translate() of the OpenSIPS dialplan
// module, with an index that keeps it fast at hundreds of thousands of
// rules and a reload that readers never wait for.
//
// # Rules and translation
//
// A Rule is one row of OpenSIPS's dialplan table (id, dpid, pr, match_op,
// match_exp, match_flags, subst_exp, repl_exp, timerec, disabled, attrs).
// Translating an input with a dpid picks, among that dpid's enabled rules
// whose timerec holds now and whose match_exp matches, the one with the
// lowest pr, then the lowest id. match_op 0 compares the whole input for
// equality, 1 searches it with a regular expression (unanchored unless the
// expression anchors itself), 2 matches it with a shell glob. Bit 1 of
// match_flags ignores case. The output is repl_exp with \0..\9 replaced by
// the groups of subst_exp, which must then match the input; without
// subst_exp, repl_exp as it is; without repl_exp, the input unchanged. The
// rule's attrs come back with every match: the University of Siena puts
// the call class there (voip, legacy, national, mobile, international,
// media, toip).
//
// Compile builds an immutable, indexed RuleSet from rules, leaving out,
// with the reason, each rule that cannot work. Translate and Explain query
// it; Explain also lists the rules that were candidates and what became of
// each.
//
// # The Plan and its stage
//
// A Plan holds the current RuleSet of a Store behind an atomic pointer.
// Reload builds a new set and swaps it in whole: translations never block
// and never see half a set, and a reload that cannot read the store keeps
// the current set. Plan.Wrap is the pipeline stage: it translates the
// Request-URI user (or another Field) with the configured dpid, rewrites it
// when the output differs, places the Result in the context for the stages
// after it (ResultFrom), and answers 420 Invalid Destination to what
// matches no rule:
//
//	plan, err := dialplan.New(dialplan.Config{}, store,
//		dialplan.WithLogger(log), dialplan.WithRegisterer(reg))
//	if err != nil {
//		return err
//	}
//	pipeline := sip.Chain(permissions, plan.Wrap, routing)(forwarder)
//	// ... on SIGHUP:
//	if rep, err := plan.Reload(ctx); err == nil {
//		log.Info("dialplan", "report", rep.String())
//	}
//
// and in a later stage:
//
//	if res, ok := dialplan.ResultFrom(ctx); ok && res.Attrs == "international" { ... }
//
// # The index
//
// OpenSIPS tries regex rules one after the other. Here equality rules are
// found by hash, and each regex rule is filed in a digit trie under the
// literal prefixes every one of its matches must begin with (found from
// its parse tree: ^05771530(.{3})$ under 05771530; ^0[3-4]1 under 031 and
// 041); rules with no such prefix (unanchored, or beginning with a class
// too wide) go on a short list tried for every input. A translation walks
// the input once down the trie and verifies only the rules it meets, in
// (pr, id) order, stopping each list at the first rule that cannot beat the
// best found. The common regex shapes (a literal, fixed classes, one
// repeated class, an optional $) are matched without the regexp engine.
// None of this changes which rule wins: a property test and a fuzz target
// hold the index to a plain linear scan with Go's regexp.
//
// # Differences from OpenSIPS
//
//   - Regular expressions are Go's (RE2), not PCRE: no lookaround, no
//     backreferences, no possessive quantifiers or atomic groups. A rule
//     using them is discarded at load, with the compiler's error and a
//     hint. In exchange, matching time is linear in the input.
//   - match_op 2 (fnmatch) is Kamailio's; OpenSIPS discards such rules.
//   - An equality rule with an empty match_exp is discarded alone;
//     OpenSIPS aborts the whole load.
//   - Ties in pr go to the lowest id, as OpenSIPS documents; its code uses
//     the row's position in the database fetch.
//   - repl_exp accepts \0..\9, \\ and \$. OpenSIPS's \n, \r, \t and \u
//     (which its C code writes at the wrong offset) and pseudo-variables
//     ($rU...) have no meaning here: a rule using them is discarded.
//   - No output limit (OpenSIPS: 127 characters, 10 escapes) and no attrs
//     truncation.
//   - Reload: a Reload called while another runs waits for it and then
//     loads again (OpenSIPS ignores it with a warning); readers use a
//     snapshot, not a read lock. There are no partitions: build one Plan
//     per table.
//   - Disabled rules are read from the store and skipped by Compile (and
//     counted); OpenSIPS leaves them out in its SELECT. Two rules with the
//     same id (impossible in the table) keep the first.
//   - A rule without repl_exp returns the input as its output; OpenSIPS
//     leaves the output variable as it was, which for dp_translate("0",
//     "$rU/$rU") is the same thing.
//   - timerec is OpenSIPS's syntax, evaluated as RFC 2445 reads it where
//     OpenSIPS's code does not (see the timerec notes in README.md).
//
// As in OpenSIPS: an empty input matches nothing; a winning rule whose
// subst_exp does not match fails the translation without trying the next
// rule; case-insensitive equality folds ASCII letters only (strncasecmp);
// attrs is always returned on a match, empty if the rule has none.
package dialplan
