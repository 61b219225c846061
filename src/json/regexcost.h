/*
 * regexcost.h — how much work a compiled regular expression can take per
 * character of input, for JSON Schema's "pattern" cost budget.
 */
#ifndef PHOENIX_REGEXCOST_H
#define PHOENIX_REGEXCOST_H

#include "postgres.h"

#include "regex/regex.h"

/*
 * States plus arcs of every automaton the matcher may run (the search
 * automaton, the main one and each lookaround constraint's): the work of
 * one DFA cache miss, i.e. the most one character of input can cost.
 */
extern int64 regex_automaton_size(regex_t *re);

#endif							/* PHOENIX_REGEXCOST_H */
