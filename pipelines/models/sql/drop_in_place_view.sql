-- the view over a source read in place, once its tests are judged
drop view if exists :view
