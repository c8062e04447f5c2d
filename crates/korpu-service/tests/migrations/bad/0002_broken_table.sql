-- Deliberately invalid SQL: the error must name this file.
CREATE TABLE broken (;
