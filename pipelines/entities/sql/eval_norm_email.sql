nullif(lower(trim(:col)), '')
