// Package destination is the part of a PBX router's pipeline that decides
// where a call goes once its caller is known: the dialplan classifies the
// number, the call-class check decides whether the caller may make such a
// call, the call services have their say, and the class picks the
// destination: the registered phones of a local account (the registrar's
// lookup), or ENUM and then the gateways of dynamic routing.
//
// It is one component so that it can run twice: a call service that sends
// a call elsewhere (forward on busy, the boss's secretary) calls Redirect,
// and the new number is classified, checked against the forwarding
// account's classes and routed exactly as if that account had dialled it.
//
//	dest, err := destination.New(destination.Config{
//		Plan:      plan,
//		Class:     permission.Class(classCfg),
//		Stages:    []sip.Middleware{features.Wrap},
//		Registrar: reg,
//		ENUM:      resolver,
//		Router:    router,
//	})
//	pipeline := sip.Chain(acl.Source(srcCfg), reg.Authenticate, aliases.Wrap, dest.Wrap)(forwarder)
package destination
