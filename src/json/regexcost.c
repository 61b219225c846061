/*
 * regexcost.c — the size of a compiled regular expression's automata.  The
 * regex library does not export it, so this one file reads its internals
 * (regex/regguts.h, whose macros would clash with other headers).
 */
#include "postgres.h"

#include "regex/regguts.h"

#include "json/regexcost.h"

static int64 cnfa_size(const struct cnfa *cnfa);

int64
regex_automaton_size(regex_t *re)
{
	struct guts *g = (struct guts *) re->re_guts;
	int64		size;

	if (g == NULL || g->magic != GUTSMAGIC)
		return 0;
	size = cnfa_size(&g->search);
	if (g->tree != NULL)
		size += cnfa_size(&g->tree->cnfa);
	for (int i = 1; i < g->nlacons; i++)
		size += cnfa_size(&g->lacons[i].cnfa);
	return size;
}

/* States and arcs of one compacted NFA (an empty one has no states). */
static int64
cnfa_size(const struct cnfa *cnfa)
{
	int64		size = cnfa->nstates;

	for (int s = 0; s < cnfa->nstates; s++)
		for (struct carc *ca = cnfa->states[s]; ca->co != COLORLESS; ca++)
			size++;
	return size;
}
