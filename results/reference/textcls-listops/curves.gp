# lrpe report plot; re-run in this folder with: gnuplot curves.gp (writes curves.png and curves.svg)
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
    set terminal pngcairo size 900,550 noenhanced font 'Sans,10'
} else {
    set terminal png size 900,550 noenhanced
}
set output 'curves.png'
set title 'textcls-listops: validation accuracy during training' . "\n" . 'line: mean over seeds; band: min..max over seeds'
set xlabel 'training step'
set ylabel 'validation accuracy (%)'
set grid lw 0.5 lc rgb '#dddddd'
set border lw 1
set key outside right top vertical Left reverse
set style fill transparent solid 0.18 noborder
plot 'curves.dat' index 0 using 1:3:4 with filledcurves fc rgb '#0072b2' notitle, \
     '' index 0 using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#0072b2' dt 1 title 'none', \
     'curves.dat' index 1 using 1:3:4 with filledcurves fc rgb '#d55e00' notitle, \
     '' index 1 using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#d55e00' dt 1 title 'sinusoidal', \
     'curves.dat' index 2 using 1:3:4 with filledcurves fc rgb '#009e73' notitle, \
     '' index 2 using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#009e73' dt 1 title 'learned', \
     'curves.dat' index 3 using 1:3:4 with filledcurves fc rgb '#cc79a7' notitle, \
     '' index 3 using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#cc79a7' dt 1 title 'rope', \
     'curves.dat' index 4 using 1:3:4 with filledcurves fc rgb '#e69f00' notitle, \
     '' index 4 using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#e69f00' dt 1 title 'lrpe-rotation (learned theta)', \
     'curves.dat' index 5 using 1:3:4 with filledcurves fc rgb '#56b4e9' notitle, \
     '' index 5 using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#56b4e9' dt 1 title 'lrpe-permutation', \
     'curves.dat' index 6 using 1:3:4 with filledcurves fc rgb '#000000' notitle, \
     '' index 6 using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#000000' dt 1 title 'lrpe-unitary (fixed theta)', \
     'curves.dat' index 7 using 1:3:4 with filledcurves fc rgb '#f0e442' notitle, \
     '' index 7 using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#f0e442' dt 1 title 'lrpe-unitary (learned theta)', \
     'curves.dat' index 8 using 1:3:4 with filledcurves fc rgb '#999999' notitle, \
     '' index 8 using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#999999' dt 1 title 'permuteformer', \
     'curves.dat' index 9 using 1:3:4 with filledcurves fc rgb '#882255' notitle, \
     '' index 9 using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '#882255' dt 1 title 'cosformer'
set terminal svg size 900,550 noenhanced font 'Sans,10' background rgb 'white'
set output 'curves.svg'
replot
set output
