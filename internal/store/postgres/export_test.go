package postgres

// KeywordSearchSQL is the keyword search's query, for the test that explains its plan.
const KeywordSearchSQL = keywordSearchSQL
