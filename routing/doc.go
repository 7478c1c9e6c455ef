// Package routing is Palio's dynamic routing: OpenSIPS's drouting module,
// with trunk capacity and alarms added. It decides which gateway or
// carrier a call to the PSTN, to a legacy PBX or to a media server goes
// to, fails over from one to the next, watches the gateways with OPTIONS
// probes, and keeps count of the calls on each trunk.
//
// # Tables
//
// The data are OpenSIPS's four tables, one Go type per row, field for
// column: Gateway (dr_gateways: address, strip, pri_prefix, attrs,
// probe_mode, state, socket), Carrier (dr_carriers: a named, sorted group
// of gateways), Rule (dr_rules: groups, prefix, timerec, priority, gwlist,
// sort_alg, attrs) and GroupMember (dr_groups: which group a caller is in).
// Gateway and Carrier add Channels, the trunk capacity (30 for a PRI),
// which has no OpenSIPS column: SQL stores keep it in palio_dr_limits. A
// Store loads them all (Load) and keeps gateway and carrier states
// (SetGatewayState, SetCarrierState; SetGatewayStateUnlessDisabled for
// what probes and calls find, which never undoes an operator's disable);
// NewMemStore keeps them in memory.
//
// # Choosing the rule
//
// A call's group is its caller's (the From user and host, in dr_groups),
// else Config.DefaultGroup; its number is the Request-URI user. Among the
// group's rules, the longest prefix of the number that has a rule valid
// now (timerec) wins, its rules tried by descending priority (then
// ascending id); without one, shorter prefixes, then the prefix-less
// rules. A number with a character outside the prefix alphabet (the
// digits, plus Config.ExtraPrefixChars) matches only prefix-less rules.
// Config.ExactLength requires the prefix to be the whole number (the L
// flag). The rules are compiled into one digit trie per group, so a
// decision costs the same at ten rules or a hundred thousand and never
// touches the store.
//
// # Destinations and failover
//
// The rule's gwlist is ordered by its sort_alg: N keeps the order, W draws
// a weighted random order without replacement (weight-0 entries last).
// Carriers are expanded in place, their gateways ordered by the carrier's
// own sort_alg (only the first usable one with CarrierFirstOnly); carriers
// that are off and gateways that are not active or are at their channel
// limit are skipped. Each gateway strips Strip leading characters from
// the number and prepends PriPrefix.
//
// Router.Wrap is the pipeline stage. It calls the next handler (the
// Forwarder) once per destination, each time with a clone of the request
// sent to sip:number@gateway and the gateway as its target, and moves on
// while the outcome is a failover status (408, 500, 502, 503, 504 and
// transport errors by default) and the caller is still there. It stops on
// success, on any other status (486 Busy Here, 6xx) and when the caller
// cancels; with Config.Fallback it moves on to the next rule when a rule's
// destinations are exhausted. The decision travels in the context
// (DecisionFrom), for CDRs and the dry run of the pipeline.
//
//	router, err := routing.New(routing.Config{}, store,
//		routing.WithLogger(log), routing.WithRegisterer(reg))
//	if err != nil {
//		return err
//	}
//	defer router.Close()
//	router.Watch(srv.Dialogs())  // trunk counting, limits and alarms
//	router.StartProbing(srv)     // OPTIONS probes (sip.Server.Ping)
//	router.Subscribe(func(ev routing.Event) { log.Warn(ev.String()) })
//	pipeline := sip.Chain(plan.Wrap, router.Wrap)(forwarder)
//	// on SIGHUP: router.Reload(ctx); CLI: router.Route, router.Explain,
//	// router.Gateways, router.SetGatewayEnabled, router.SetGatewayAddress
//
// # Gateway states and probing
//
// A gateway is active, disabled by an operator (SetGatewayEnabled; only an
// operator re-enables it) or inactive. StartProbing sends OPTIONS to
// gateways with probe_mode 2 every interval, and to those with probe_mode
// 1 while they are not active: 200 (or Config.Probe.ReplyCodes) makes an
// inactive gateway active, 400 or more, a timeout or a transport error
// makes an active gateway inactive; a disabled gateway is probed too (its
// last probe shows in Gateways) but never re-enabled by one.
// Config.DisableCodes makes a probed gateway inactive when a call to it
// fails that way, as a script's dr_disable(). Every change is an Event
// (Subscribe) and a metric, and is written to the store (unless
// Config.VolatileState). Reloads keep the running states by id.
//
// A gateway whose address is a placeholder (its attrs say
// "placeholder=HOST" for the host of its address: a seed's stand-in for
// the site's real address, see Gateway.Placeholder) is unconfigured:
// never probed and never a destination (Route skips it as "placeholder
// address"), logged once when a load finds it. SetGatewayAddress gives
// it its real address.
//
// # Trunk capacity
//
// Watch counts the calls in progress on each gateway from the branch
// events of the proxy's dialog table, which ends every branch it starts:
// the count is right under failover, CANCEL, and BYE from either side. A
// carrier's count is the sum of its gateways'. A gateway or carrier at its
// Channels limit is skipped (the next destination is tried; with none
// left the caller gets 503); the stage reserves the channel before
// forwarding, so that concurrent calls cannot overshoot. When the calls
// reach Config.AlarmThreshold (80 %) of the limit, an EventTrunkAlarm
// fires once; EventTrunkAlarmCleared follows when they drop below: the
// "trigger if contemporary calls is near SIP trunks upper limit" of UniSI.
//
// With several nodes, WithChannelCounter makes limits and alarms the
// cluster's: each Router counts its own calls as above and a
// ChannelCounter (package cluster/trunkcount over Redis, NewMemChannels in
// one process) adds up the live nodes' counts, admitting each attempt on
// a capped trunk atomically in one round trip bounded by
// Config.CounterTimeout. A node that stops reporting is dropped with its
// calls; a counter that fails leaves each node on its own counts until it
// answers again.
//
// # Differences from OpenSIPS
//
//   - dr_groups is read at load and cached, not queried per call; there is
//     always a default group (0 unless set): give it no rules to refuse
//     unknown callers. use_domain is on unless Config.IgnoreDomain.
//   - Fallback walks every prefix-less rule by priority; OpenSIPS stops
//     after the first one.
//   - W with every weight 0 shuffles the list uniformly, as OpenSIPS
//     master does (#3863); 3.6 keeps the order.
//   - The new Request-URI is sip:number@address with the address's scheme
//     and parameters; the parameters of the caller's Request-URI are not
//     carried over.
//   - socket is OpenSIPS's sending socket; Palio's Forwarder sends from the
//     listener of the transport, so only the socket's protocol is used (the
//     target's transport). Addresses are resolved when sent to, not at
//     load (no force_dns), and there is no is_from_gw here.
//   - sort_alg Q (qrouting), routeid (script routes), sort_profile, type,
//     the whitelist argument, partitions and clustering are not
//     implemented: Q lists keep their order (with a warning), routeid and
//     attrs are returned in the Decision for the program to act on.
//   - A Reload waits for a running one and then loads (no_concurrent_reload
//     rejects it); readers never lock. A malformed row is left out alone
//     and reported; OpenSIPS aborts the load for some errors.
//   - Probing is OPTIONS only (probing_method), with no probing socket.
//   - Channel limits, trunk alarms and Explain's skipped entries have no
//     OpenSIPS counterpart (OpenSIPS uses dialog profiles and script code).
package routing
