# lrpe report plot; re-run in this folder with: gnuplot curves.gp (writes curves.png and curves.svg)
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
    set terminal pngcairo size 900,550 noenhanced font 'Sans,10'
} else {
    set terminal png size 900,550 noenhanced
}
set output 'curves.png'
set title 'ablation-kjv: validation BPC during training' . "\n" . 'line: mean over seeds; band: min..max over seeds'
set xlabel 'training step'
set ylabel 'validation BPC (bits per byte)'
set grid lw 0.5 lc rgb '#dddddd'
set border lw 1
set key outside right top vertical Left reverse
set style fill transparent solid 0.18 noborder
plot 'curves.dat' index 0 using 1:3:4 with filledcurves fc rgb '#0072b2' notitle, \
     '' index 0 using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#0072b2' dt 1 title 'P householder', \
     'curves.dat' index 1 using 1:3:4 with filledcurves fc rgb '#d55e00' notitle, \
     '' index 1 using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#d55e00' dt 1 title 'P identity', \
     'curves.dat' index 2 using 1:3:4 with filledcurves fc rgb '#009e73' notitle, \
     '' index 2 using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#009e73' dt 1 title 'P oddeven', \
     'curves.dat' index 3 using 1:3:4 with filledcurves fc rgb '#cc79a7' notitle, \
     '' index 3 using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#cc79a7' dt 1 title 'P householder + sinusoidal'
set terminal svg size 900,550 noenhanced font 'Sans,10' background rgb 'white'
set output 'curves.svg'
replot
set output
