// Package timing holds heed's timing safeguards as pure, clock-injected
// logic: staffed hours with public holidays, days of remembrance and mourning
// ("sensitive dates"), when to send the last call before an occurrence, and how
// many approvals a sensitive day needs. Safeguards holds a team's settings of
// them per review room and per target audience, and Check applies them to one
// occurrence.
//
// Nothing here reads the wall clock, talks to a chat or network, or stores
// anything; the engine passes the times in and persists what must survive a
// restart (such as dates added from chat).
package timing
