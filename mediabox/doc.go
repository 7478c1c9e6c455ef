// Package mediabox is a media application server built on diago: the
// IVR menus, voicemail boxes (with message-waiting lamps) and call queues
// that UniSI's Asterisk "media box" serves behind a SIP trunk.
//
// The router's alias stage turns numbers into media box names (5000 →
// IVR_5000, 5500 → FAX_5500) and its routing sends the media class to
// the box's address; the box picks the application from the Request-URI
// user:
//
//	IVR_<id>       the IVR menu id
//	VM_<user>      leave a message in user's mailbox
//	VOICEMAIL      the caller's voicemail menu (PIN, listen, delete, greeting)
//	QUEUE_<id>     the call queue id
//	AGENTIN_<id>   the caller logs in as an agent of queue id
//	AGENTOUT_<id>  the caller logs out
//	FAX_<n>        refused with 488: diago has no T.38 nor fax modem
//
// Calls the box places (an IVR transfer, a queue ringing its agents) go
// back through the router, so the caller's class, the callee's features
// and the busy lamps apply to them as to any call. The box is a
// back-to-back user agent: it stays in the media path of a transferred
// call, bridging the two legs.
//
// Anything answering the same Request-URIs (Asterisk, FreeSWITCH) can
// take its place: the router only knows it as a gateway.
package mediabox
