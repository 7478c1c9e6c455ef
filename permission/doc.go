// Package permission decides who may send what: the source-address ACL of
// OpenSIPS's permissions module (the address table: which hosts are PSTN
// gateways, the ToIP trunk, the media box) and the per-account call
// classes of the UniSI deployment (an account may call local, national,
// mobile and international numbers, as its page in the seed shows).
//
// Two stages, in this order in the pipeline:
//
//	permission.Source → (authentication) → … → dialplan → permission.Class
//
// Source checks the packet's source address, port and transport against
// the table (check_source_address, get_source_group) and marks a trusted
// sender in the context; the registrar's Authenticate stage lets trusted
// senders through (TrustedSource) and challenges the others. Class runs
// after the dialplan has classified the call: the caller's outbound classes
// must hold the class the call type needs (ClassConfig.Required), and a call
// from a trusted gateway must be one the called account accepts (its
// inbound classes, the seed's "Gruppi di abilitazione in INGRESSO").
//
// The address table is loaded into an immutable snapshot behind an atomic
// pointer: exact hosts in a hash, subnets in a binary trie per family, any
// number of them. Differences from OpenSIPS 3.6: a row whose proto is
// blank after trimming counts as "any"; patterns use Palio's own
// fnmatch(FNM_PERIOD) implementation; classes are not OpenSIPS's (it has
// the group module's grp table, which the SQL store reads them from).
package permission
