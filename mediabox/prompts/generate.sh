#!/usr/bin/env bash
# Regenerates the media box's default prompts: speech from espeak-ng,
# tones and the music on hold from sox (Debian packages espeak-ng and
# sox), each resampled to what the box plays: WAV, 8000 Hz, mono,
# 16-bit PCM. The WAVs are committed and embedded in the binary, so a
# build needs neither tool; run this after changing a text below.
set -euo pipefail
cd "$(dirname "$0")"

say() { # name text
  espeak-ng -v en-gb -s 150 -w "/tmp/prompt-$1.wav" "$2"
  sox "/tmp/prompt-$1.wav" -r 8000 -c 1 -b 16 -e signed-integer "$1.wav" norm -3
  rm -f "/tmp/prompt-$1.wav"
}

say ivr-5000 "Welcome to the University of Siena. For the switchboard, press 1. To call extension 5002, press 2. To leave a voice message, press 9. To hear this menu again, press 0."
say invalid "That is not a valid option."
say goodbye "Goodbye."
say transfer "Please hold while your call is transferred."
say unavailable "The number you called cannot be reached. Please try again later."
say vm-greeting "The person you are calling is not available. Please leave a message after the tone. Hang up, or press the hash key, when you are done."
say vm-unavailable "This mailbox is not available."
say vm-full "This mailbox is full. Please try again later."
say vm-saved "Your message has been saved. Goodbye."
say vm-pin "Please enter your PIN, followed by the hash key."
say vm-badpin "That PIN is not correct."
say vm-locked "This mailbox has no PIN yet. Please ask the operator to set one."
say vm-main "To listen to your messages, press 1. To record your greeting, press 0. To end the call, press star."
say vm-youhave "You have"
say vm-new "new messages"
say vm-old "saved messages"
say vm-nomsg "You have no messages."
say vm-msgmenu "To hear this message again, press 1. To delete it, press 7. For the next message, press the hash key."
say vm-deleted "Message deleted."
say vm-end "There are no more messages."
say vm-recgreeting "Record your greeting after the tone, then press the hash key."
say vm-greetingsaved "Your greeting has been saved."
say q-hold "All our operators are busy. Please hold."
say q-position "You are caller number"
say q-loggedin "You are logged in to the queue."
say q-loggedout "You are logged out of the queue."
say q-notagent "You are not an agent of this queue."
for d in 0 1 2 3 4 5 6 7 8 9; do
  words=(zero one two three four five six seven eight nine)
  say "digit-$d" "${words[$d]}"
done

# The tone before a recording: 1 kHz for 400 ms.
sox -n -r 8000 -c 1 -b 16 -e signed-integer beep.wav synth 0.4 sine 1000 vol 0.5
# Music on hold: a slow arpeggio of soft chords, 8 seconds, looped by the box.
sox -n -r 8000 -c 1 -b 16 -e signed-integer moh.wav \
  synth 2 pluck C4 pluck E4 pluck G4 : synth 2 pluck A3 pluck C4 pluck E4 : \
  synth 2 pluck F3 pluck A3 pluck C4 : synth 2 pluck G3 pluck B3 pluck D4 vol 0.6
